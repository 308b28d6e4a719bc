"""A corpus of messages: every message type, most IEs, used by the round-trip tests, the
fuzzer (as seeds) and the tshark check."""

from __future__ import annotations

from ipaddress import IPv6Address

import pfcp
from pfcp import (
    AdditionalUsageReportsInformation,
    ApnDnn,
    ApplicationDetectionInformation,
    ApplicationIdsPfds,
    ApplyAction,
    AssociationReleaseRequestFlags,
    Cause,
    CpFeatures,
    CreateBar,
    CreatedPdr,
    CreatedTrafficEndpoint,
    CreateFar,
    CreatePdr,
    CreateQer,
    CreateTrafficEndpoint,
    CreateUrr,
    DestinationInterface,
    DownlinkDataReport,
    DownlinkDataServiceInformation,
    DuplicatingParameters,
    ErrorIndicationReport,
    FailedRuleId,
    FlowDirection,
    FlowInformation,
    ForwardingParameters,
    FqCsid,
    FSeid,
    FTeid,
    Gate,
    GateStatus,
    Gbr,
    IEType,
    LoadControlInformation,
    Mbr,
    MeasurementInformation,
    MeasurementMethod,
    NetworkInstance,
    NodeId,
    NodeReportType,
    OuterHeaderCreation,
    OuterHeaderCreationDescription,
    OuterHeaderRemoval,
    OuterHeaderRemovalDescription,
    OverloadControlInformation,
    Pdi,
    PdnType,
    PfcpsmReqFlags,
    PfcpsrRspFlags,
    PfdContents,
    PfdContext,
    QueryUrr,
    RawIe,
    RemoteGtpUPeer,
    RemoveBar,
    RemoveFar,
    RemovePdr,
    RemoveQer,
    RemoveTrafficEndpoint,
    RemoveUrr,
    ReportingTriggers,
    ReportType,
    RuleIdType,
    SdfFilter,
    SourceInterface,
    Timer,
    TimerUnit,
    UeIpAddress,
    UpdateBar,
    UpdateBarReportResponse,
    UpdateDuplicatingParameters,
    UpdateFar,
    UpdateForwardingParameters,
    UpdatePdr,
    UpdateQer,
    UpdateTrafficEndpoint,
    UpdateUrr,
    UpFeatures,
    UsageInformation,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportSrr,
    UsageReportTrigger,
    UserPlaneIpResourceInformation,
    UserPlanePathFailureReport,
    VolumeMeasurement,
    VolumeQuota,
    VolumeThreshold,
)
from tests.pfcp.samples import GNB, SMF, UE, UPF, establishment_request, establishment_response

V6 = IPv6Address("2001:db8::1")
NI = NetworkInstance.from_text("internet")
TS = 3_900_000_000  # an NTP timestamp (2023)


def _usage(cls: type[UsageReportSmr] | type[UsageReportSdr] | type[UsageReportSrr]) -> pfcp.UsageReport:
    return cls(
        urr_id=1,
        ur_seqn=7,
        usage_report_trigger=UsageReportTrigger.VOLTH | UsageReportTrigger.PERIO,
        start_time=TS,
        end_time=TS + 60,
        volume_measurement=VolumeMeasurement(1000, 400, 600, 10, 4, 6),
        duration_measurement=60,
        time_of_first_packet=TS + 1,
        time_of_last_packet=TS + 59,
        usage_information=UsageInformation.AFT,
    )


def messages() -> list[pfcp.Message]:
    node = NodeId(SMF)
    up = NodeId(UPF)
    sdf = SdfFilter(flow_description="permit out ip from any to assigned", sdf_filter_id=3)
    full_far = CreateFar(
        far_id=3,
        apply_action=ApplyAction.FORW | ApplyAction.DUPL,
        forwarding_parameters=ForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            network_instance=NI,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV6, teid=0xDEADBEEF, ipv6=V6
            ),
            transport_level_marking=0xB8FF,
            forwarding_policy=b"policy1",
        ),
        duplicating_parameters=(
            DuplicatingParameters(
                destination_interface=DestinationInterface.LI_FUNCTION,
                outer_header_creation=OuterHeaderCreation(
                    OuterHeaderCreationDescription.UDP_IPV4, ipv4=GNB, port=2152
                ),
            ),
        ),
        bar_id=1,
    )
    rich_pdr = CreatePdr(
        pdr_id=3,
        precedence=100,
        pdi=Pdi(
            source_interface=SourceInterface.CORE,
            local_f_teid=FTeid(teid=0x100, ipv4=UPF, ipv6=V6),
            network_instance=NI,
            ue_ip_address=UeIpAddress(ipv4=UE, ipv6=V6, is_destination=True, ipv6_prefix_delegation_bits=8),
            sdf_filter=(sdf, SdfFilter(tos_traffic_class=0x1234, security_parameter_index=5, flow_label=0x12345)),
            application_id="app1",
            qfi=(5, 6),
        ),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4, 1),
        far_id=3,
        urr_id=(1, 2),
        qer_id=(1,),
        activate_predefined_rules=("rule-a",),
    )
    ser = establishment_request(10)
    ser_rich = pfcp.SessionEstablishmentRequest(
        sequence=11,
        seid=0,
        node_id=NodeId("smf.example.org"),
        cp_f_seid=FSeid(0xABC, ipv4=SMF, ipv6=V6),
        create_pdr=(rich_pdr,),
        create_far=(full_far,),
        create_urr=(
            CreateUrr(
                urr_id=2,
                measurement_method=MeasurementMethod.VOLUM | MeasurementMethod.DURAT,
                reporting_triggers=ReportingTriggers.PERIO | ReportingTriggers.VOLQU | ReportingTriggers.TIMQU,
                measurement_period=60,
                volume_quota=VolumeQuota(total=5, uplink=2, downlink=3),
                time_quota=600,
                quota_holding_time=30,
                measurement_information=MeasurementInformation.MBQE,
                linked_urr_id=(1,),
            ),
        ),
        create_qer=(
            CreateQer(
                qer_id=2,
                gate_status=GateStatus(Gate.OPEN, Gate.CLOSED),
                qer_correlation_id=9,
                mbr=Mbr(1, 2),
                gbr=Gbr(3, 4),
                qfi=1,
                rqi=True,
                paging_policy_indicator=2,
            ),
        ),
        create_bar=CreateBar(bar_id=1, downlink_data_notification_delay=2, suggested_buffering_packets_count=10),
        create_traffic_endpoint=(
            CreateTrafficEndpoint(
                traffic_endpoint_id=1, local_f_teid=FTeid(choose=True, choose_v4=True), network_instance=NI
            ),
        ),
        pdn_type=PdnType.IPV4V6,
        fq_csid=(FqCsid(SMF, (1, 2)),),
        user_plane_inactivity_timer=300,
        apn_dnn=ApnDnn.from_text("internet.mnc001.mcc001.gprs"),
        priority=3,
    )
    smr = pfcp.SessionModificationRequest(
        sequence=12,
        seid=0x8000000000000001,
        cp_f_seid=FSeid(0xABC, ipv4=SMF),
        remove_pdr=(RemovePdr(5),),
        remove_far=(RemoveFar(5),),
        remove_urr=(RemoveUrr(5),),
        remove_qer=(RemoveQer(5),),
        remove_bar=RemoveBar(1),
        remove_traffic_endpoint=(RemoveTrafficEndpoint(2),),
        create_pdr=(rich_pdr,),
        create_far=(full_far,),
        update_pdr=(UpdatePdr(pdr_id=1, precedence=10, far_id=2, pdi=Pdi(source_interface=SourceInterface.ACCESS)),),
        update_far=(
            UpdateFar(
                far_id=2,
                apply_action=ApplyAction.FORW | ApplyAction.NOCP,
                update_forwarding_parameters=UpdateForwardingParameters(
                    destination_interface=DestinationInterface.ACCESS,
                    outer_header_creation=OuterHeaderCreation(
                        OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x55, ipv4=GNB
                    ),
                    pfcpsmreq_flags=PfcpsmReqFlags.SNDEM,
                ),
                update_duplicating_parameters=(UpdateDuplicatingParameters(transport_level_marking=1),),
            ),
        ),
        update_urr=(UpdateUrr(urr_id=1, volume_threshold=VolumeThreshold(downlink=77)),),
        update_qer=(UpdateQer(qer_id=1, mbr=Mbr(5, 6), gate_status=GateStatus(Gate.CLOSED, Gate.CLOSED)),),
        update_bar=UpdateBar(bar_id=1, downlink_data_notification_delay=4),
        update_traffic_endpoint=(UpdateTrafficEndpoint(traffic_endpoint_id=1, qfi=(3,)),),
        pfcpsmreq_flags=PfcpsmReqFlags.DROBU | PfcpsmReqFlags.QAURR,
        query_urr=(QueryUrr(1),),
        query_urr_reference=4,
    )
    return [
        pfcp.HeartbeatRequest(sequence=1, recovery_time_stamp=TS),
        pfcp.HeartbeatResponse(sequence=1, recovery_time_stamp=TS + 1),
        pfcp.PfdManagementRequest(
            sequence=2,
            application_ids_pfds=(
                ApplicationIdsPfds(
                    application_id="app1",
                    pfd_context=(
                        PfdContext(
                            pfd_contents=(
                                PfdContents(flow_description="permit out ip from 1.2.3.4 to any", url="http://x"),
                                PfdContents(domain_name="example.com", custom_pfd_content=b"\x01\x02"),
                            )
                        ),
                    ),
                ),
            ),
        ),
        pfcp.PfdManagementResponse(sequence=2, cause=Cause.REQUEST_ACCEPTED),
        pfcp.PfdManagementResponse(sequence=2, cause=Cause.MANDATORY_IE_MISSING, offending_ie=IEType.APPLICATION_ID),
        pfcp.AssociationSetupRequest(
            sequence=3, node_id=node, recovery_time_stamp=TS, cp_function_features=CpFeatures.LOAD | CpFeatures.OVRL
        ),
        pfcp.AssociationSetupRequest(
            sequence=3,
            node_id=NodeId(V6),
            recovery_time_stamp=TS,
            up_function_features=UpFeatures.FTUP | UpFeatures.UEIP | UpFeatures.MPAS,
            user_plane_ip_resource_information=(
                UserPlaneIpResourceInformation(ipv4=UPF, teid_range_indication=2, teid_range=1, network_instance=NI),
                UserPlaneIpResourceInformation(ipv6=V6, source_interface=SourceInterface.ACCESS),
            ),
        ),
        pfcp.AssociationSetupResponse(
            sequence=3,
            node_id=up,
            cause=Cause.REQUEST_ACCEPTED,
            recovery_time_stamp=TS,
            up_function_features=UpFeatures.FTUP | UpFeatures.EMPU | UpFeatures.PDIU,
        ),
        pfcp.AssociationUpdateRequest(
            sequence=4,
            node_id=up,
            up_function_features=UpFeatures.FTUP,
            pfcp_association_release_request=AssociationReleaseRequestFlags.SARR,
            graceful_release_period=Timer(TimerUnit.MINUTE_1, 5),
        ),
        pfcp.AssociationUpdateResponse(sequence=4, node_id=node, cause=Cause.REQUEST_ACCEPTED),
        pfcp.AssociationReleaseRequest(sequence=5, node_id=node),
        pfcp.AssociationReleaseResponse(sequence=5, node_id=up, cause=Cause.REQUEST_ACCEPTED),
        pfcp.VersionNotSupportedResponse(sequence=6),
        pfcp.NodeReportRequest(
            sequence=7,
            node_id=up,
            node_report_type=NodeReportType.UPFR,
            user_plane_path_failure_report=UserPlanePathFailureReport(
                remote_gtp_u_peer=(RemoteGtpUPeer(ipv4=GNB), RemoteGtpUPeer(ipv6=V6))
            ),
        ),
        pfcp.NodeReportResponse(sequence=7, node_id=node, cause=Cause.REQUEST_ACCEPTED),
        pfcp.SessionSetDeletionRequest(sequence=8, node_id=node, fq_csid=(FqCsid(SMF, (1,)), FqCsid(V6, (2, 3)))),
        pfcp.SessionSetDeletionResponse(sequence=8, node_id=up, cause=Cause.REQUEST_ACCEPTED),
        ser,
        ser_rich,
        establishment_response(10),
        pfcp.SessionEstablishmentResponse(
            sequence=11,
            seid=0xABC,
            node_id=up,
            cause=Cause.RULE_CREATION_MODIFICATION_FAILURE,
            offending_ie=IEType.CREATE_PDR,
            failed_rule_id=FailedRuleId(RuleIdType.PDR, 3),
            load_control_information=LoadControlInformation(sequence_number=1, metric=50),
            overload_control_information=OverloadControlInformation(
                sequence_number=2, metric=10, timer=Timer(TimerUnit.SECONDS_2, 10)
            ),
            created_traffic_endpoint=(CreatedTrafficEndpoint(1, local_f_teid=FTeid(0x77, ipv4=UPF)),),
        ),
        smr,
        pfcp.SessionModificationResponse(
            sequence=12,
            seid=0xABC,
            cause=Cause.REQUEST_ACCEPTED,
            created_pdr=(CreatedPdr(3, local_f_teid=FTeid(0x99, ipv4=UPF), ue_ip_address=UeIpAddress(ipv4=UE)),),
            usage_report=(_usage(UsageReportSmr),),  # type: ignore[arg-type]
            additional_usage_reports_information=AdditionalUsageReportsInformation(number=3),
        ),
        pfcp.SessionDeletionRequest(sequence=13, seid=0x8000000000000001),
        pfcp.SessionDeletionResponse(
            sequence=13, seid=0xABC, cause=Cause.REQUEST_ACCEPTED, usage_report=(_usage(UsageReportSdr),)  # type: ignore[arg-type]
        ),
        pfcp.SessionReportRequest(
            sequence=14,
            seid=0xABC,
            report_type=ReportType.DLDR | ReportType.USAR | ReportType.ERIR,
            downlink_data_report=DownlinkDataReport(
                pdr_id=(2,), downlink_data_service_information=(DownlinkDataServiceInformation(qfi=5),)
            ),
            usage_report=(
                UsageReportSrr(
                    urr_id=1,
                    ur_seqn=1,
                    usage_report_trigger=UsageReportTrigger.START,
                    application_detection_information=ApplicationDetectionInformation(
                        application_id="app1",
                        flow_information=FlowInformation(FlowDirection.DOWNLINK, "permit out ip from any to any"),
                    ),
                    ue_ip_address=UeIpAddress(ipv4=UE),
                ),
            ),
            error_indication_report=ErrorIndicationReport(remote_f_teid=(FTeid(0x1234, ipv4=GNB),)),
        ),
        pfcp.SessionReportResponse(
            sequence=14,
            seid=0x8000000000000001,
            cause=Cause.REQUEST_ACCEPTED,
            update_bar=UpdateBarReportResponse(bar_id=1, dl_buffering_duration=Timer(TimerUnit.SECONDS_2, 3)),
            pfcpsrrsp_flags=PfcpsrRspFlags.DROBU,
        ),
        pfcp.NodeReportRequest(
            sequence=16,
            node_id=up,
            node_report_type=NodeReportType.UPFR,
            user_plane_path_failure_report=UserPlanePathFailureReport(
                remote_gtp_u_peer=(
                    RemoteGtpUPeer(ipv4=GNB, destination_interface=DestinationInterface.ACCESS, network_instance=NI),
                )
            ),
        ),
        pfcp.HeartbeatRequest(
            sequence=15,
            recovery_time_stamp=TS,
            extra_ies=(RawIe(0xFFFF, b"\x01\x02", enterprise_id=10415), RawIe(1000, b"future")),
        ),
    ]
