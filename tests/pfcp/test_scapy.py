"""Interoperability with scapy.contrib.pfcp, an independent implementation (TS 29.244 V15.6).

Both directions, from one table: each row says how our value and scapy's fields spell the
same IE. scapy builds it and we decode it; we encode it and scapy parses the same fields.
Then whole messages: ours parsed and rebuilt by scapy byte for byte, and messages built with
scapy decoded by us and re-encoded byte for byte.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Any, NamedTuple

import pytest

scapy_pfcp = pytest.importorskip("scapy.contrib.pfcp")

import pfcp  # noqa: E402
from pfcp import (  # noqa: E402
    ApplyAction,
    Cause,
    CpFeatures,
    DestinationInterface,
    FSeid,
    FTeid,
    Gate,
    GateStatus,
    IEType,
    MeasurementMethod,
    NetworkInstance,
    NodeId,
    OuterHeaderCreation,
    OuterHeaderCreationDescription,
    OuterHeaderRemoval,
    OuterHeaderRemovalDescription,
    ReportingTriggers,
    SdfFilter,
    SourceInterface,
    UeIpAddress,
    UpFeatures,
    UsageReportTrigger,
)
from tests.pfcp import corpus  # noqa: E402

V4 = IPv4Address("10.0.0.2")
V6 = IPv6Address("2001:db8::2")
T = IEType


class Row(NamedTuple):
    ie_type: IEType
    value: Any
    scapy_class: str
    fields: dict[str, Any]
    scapy_extra: bytes = b""  # octets scapy (a Rel-15.6 codec) does not know, left in extra_data


def R(ie_type: IEType, value: Any, scapy_class: str, _extra: bytes = b"", **fields: Any) -> Row:
    return Row(ie_type, value, scapy_class, fields, _extra)


ROWS = [
    R(T.CAUSE, Cause.REQUEST_ACCEPTED, "IE_Cause", cause=1),
    R(T.CAUSE, Cause.MANDATORY_IE_MISSING, "IE_Cause", cause=66),
    R(T.SOURCE_INTERFACE, SourceInterface.CORE, "IE_SourceInterface", interface=1),
    R(T.F_TEID, FTeid(0x1234, ipv4=V4), "IE_FTEID", V4=1, TEID=0x1234, ipv4="10.0.0.2"),
    R(T.F_TEID, FTeid(0x99, ipv4=V4, ipv6=V6), "IE_FTEID", V4=1, V6=1, TEID=0x99, ipv4="10.0.0.2", ipv6=str(V6)),
    R(T.F_TEID, FTeid(choose=True, choose_v4=True), "IE_FTEID", CH=1, V4=1),
    R(T.F_TEID, FTeid(choose=True, choose_v4=True, choose_id=3), "IE_FTEID", CH=1, CHID=1, V4=1, choose_id=3),
    R(T.NETWORK_INSTANCE, NetworkInstance(b"\x08internet"), "IE_NetworkInstance", instance=b"internet"),
    R(T.SDF_FILTER, SdfFilter(flow_description="permit out ip from any to assigned"), "IE_SDF_Filter",
      FD=1, flow_description=b"permit out ip from any to assigned"),
    R(T.SDF_FILTER, SdfFilter(security_parameter_index=7, flow_label=0x12345, sdf_filter_id=9), "IE_SDF_Filter",
      SPI=1, FL=1, BID=1, security_parameter_index=7, flow_label=0x12345, sdf_filter_id=9),
    R(T.APPLICATION_ID, "app1", "IE_ApplicationId", id=b"app1"),
    R(T.GATE_STATUS, GateStatus(Gate.CLOSED, Gate.OPEN), "IE_GateStatus", ul=1, dl=0),
    R(T.MBR, pfcp.Mbr(100_000, 200_000), "IE_MBR", ul=100_000, dl=200_000),
    R(T.GBR, pfcp.Gbr(1, 2), "IE_GBR", ul=1, dl=2),
    R(T.QER_CORRELATION_ID, 7, "IE_QERCorrelationId", id=7),
    R(T.PRECEDENCE, 255, "IE_Precedence", precedence=255),
    R(T.TRANSPORT_LEVEL_MARKING, 0xB8FC, "IE_TransportLevelMarking", tos=0xB8, traffic_class=0xFC),
    R(T.VOLUME_THRESHOLD, pfcp.VolumeThreshold(total=1000, downlink=500), "IE_VolumeThreshold",
      TOVOL=1, DLVOL=1, total=1000, downlink=500),
    R(T.VOLUME_QUOTA, pfcp.VolumeQuota(uplink=3), "IE_VolumeQuota", ULVOL=1, uplink=3),
    R(T.TIME_THRESHOLD, 60, "IE_TimeThreshold", threshold=60),
    R(T.MONITORING_TIME, 3_900_000_000, "IE_MonitoringTime", time_value=3_900_000_000),
    R(T.REPORTING_TRIGGERS, ReportingTriggers.VOLTH | ReportingTriggers.PERIO | ReportingTriggers.VOLQU,
      "IE_ReportingTriggers", volume_threshold=1, periodic_reporting=1, volume_quota=1),
    R(T.REPORT_TYPE, pfcp.ReportType.USAR | pfcp.ReportType.DLDR, "IE_ReportType", USAR=1, DLDR=1),
    R(T.OFFENDING_IE, IEType.CREATE_PDR, "IE_OffendingIE", type=1),
    R(T.FORWARDING_POLICY, b"pol", "IE_ForwardingPolicy", policy_identifier=b"pol"),
    R(T.DESTINATION_INTERFACE, DestinationInterface.SGI_LAN_N6_LAN, "IE_DestinationInterface", interface=2),
    R(T.UP_FUNCTION_FEATURES, UpFeatures.FTUP | UpFeatures.BUCP | UpFeatures.EMPU, "IE_UPFunctionFeatures",
      FTUP=1, BUCP=1, EMPU=1, TREU=0, HEEU=0, PFDM=0, TRST=0, DLBD=0, DDND=0, spare=0, PFDE=0, FRRT=0,
      TRACE=0, QUOAC=0, UDBC=0, PDIU=0),
    R(T.APPLY_ACTION, ApplyAction.FORW, "IE_ApplyAction", FORW=1, spare=0),
    R(T.APPLY_ACTION, ApplyAction.DROP | ApplyAction.NOCP, "IE_ApplyAction", DROP=1, NOCP=1, spare=0),
    R(T.DOWNLINK_DATA_SERVICE_INFORMATION, pfcp.DownlinkDataServiceInformation(qfi=5),
      "IE_DownlinkDataServiceInformation", QFII=1, qfi_val=5, spare_1=0, spare_3=0),
    R(T.DOWNLINK_DATA_NOTIFICATION_DELAY, 3, "IE_DownlinkDataNotificationDelay", delay=3),
    R(T.DL_BUFFERING_DURATION, pfcp.Timer(pfcp.TimerUnit.MINUTE_1, 5), "IE_DLBufferingDuration",
      timer_unit=1, timer_value=5),
    R(T.PFCPSMREQ_FLAGS, pfcp.PfcpsmReqFlags.DROBU | pfcp.PfcpsmReqFlags.SNDEM, "IE_PFCPSMReqFlags",
      DROBU=1, SNDEM=1, spare=0),
    R(T.PFCPSRRSP_FLAGS, pfcp.PfcpsrRspFlags.DROBU, "IE_PFCPSRRspFlags", DROBU=1, spare=0),
    R(T.SEQUENCE_NUMBER, 5, "IE_SequenceNumber", number=5),
    R(T.METRIC, 50, "IE_Metric", metric=50),
    R(T.TIMER, pfcp.Timer(pfcp.TimerUnit.SECONDS_2, 9), "IE_Timer", timer_unit=0, timer_value=9),
    R(T.PDR_ID, 42, "IE_PDR_Id", id=42),
    R(T.F_SEID, FSeid(0x1122334455667788, ipv4=V4), "IE_FSEID", v4=1, seid=0x1122334455667788, ipv4="10.0.0.2"),
    R(T.F_SEID, FSeid(1, ipv4=V4, ipv6=V6), "IE_FSEID", v4=1, v6=1, seid=1, ipv4="10.0.0.2", ipv6=str(V6)),
    R(T.NODE_ID, NodeId(V4), "IE_NodeId", id_type=0, ipv4="10.0.0.2"),
    R(T.NODE_ID, NodeId(V6), "IE_NodeId", id_type=1, ipv6=str(V6)),
    R(T.NODE_ID, NodeId("upf.example.org"), "IE_NodeId", id_type=2, id=b"upf.example.org"),
    R(T.PFD_CONTENTS, pfcp.PfdContents(flow_description="fd", url="u", domain_name="d"), "IE_PFDContents",
      FD=1, URL=1, DN=1, flow=b"fd", url=b"u", domain=b"d"),
    R(T.MEASUREMENT_METHOD, MeasurementMethod.VOLUM | MeasurementMethod.DURAT, "IE_MeasurementMethod",
      VOLUM=1, DURAT=1),
    # Rel-16 sends 3 octets (octet 7: EVEQU...); scapy knows octets 5-6 and keeps octet 7 aside.
    R(T.USAGE_REPORT_TRIGGER, UsageReportTrigger.VOLTH | UsageReportTrigger.TERMR, "IE_UsageReportTrigger",
      b"\x00", VOLTH=1, TERMR=1, extra_data=b"\x00"),
    R(T.MEASUREMENT_PERIOD, 60, "IE_MeasurementPeriod", period=60),
    R(T.VOLUME_MEASUREMENT, pfcp.VolumeMeasurement(total_volume=10, uplink_volume=4, downlink_volume=6),
      "IE_VolumeMeasurement", TOVOL=1, ULVOL=1, DLVOL=1, total=10, uplink=4, downlink=6),
    R(T.DURATION_MEASUREMENT, 61, "IE_DurationMeasurement", duration=61),
    R(T.TIME_OF_FIRST_PACKET, 123, "IE_TimeOfFirstPacket", timestamp=123),
    R(T.TIME_OF_LAST_PACKET, 124, "IE_TimeOfLastPacket", timestamp=124),
    R(T.QUOTA_HOLDING_TIME, 30, "IE_QuotaHoldingTime", time_value=30),
    R(T.TIME_QUOTA, 600, "IE_TimeQuota", quota=600),
    R(T.START_TIME, 3_900_000_000, "IE_StartTime", timestamp=3_900_000_000),
    R(T.END_TIME, 3_900_000_060, "IE_EndTime", timestamp=3_900_000_060),
    R(T.URR_ID, 8, "IE_URR_Id", id=8),
    R(T.LINKED_URR_ID, 9, "IE_LinkedURR_Id", id=9),
    R(T.OUTER_HEADER_CREATION,
      OuterHeaderCreation(OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x01020304, ipv4=V4),
      "IE_OuterHeaderCreation", GTPUUDPIPV4=1, TEID=0x01020304, ipv4="10.0.0.2"),
    R(T.OUTER_HEADER_CREATION,
      OuterHeaderCreation(OuterHeaderCreationDescription.UDP_IPV6, ipv6=V6, port=2152),
      "IE_OuterHeaderCreation", UDPIPV6=1, ipv6=str(V6), port=2152),
    R(T.BAR_ID, 1, "IE_BAR_Id", id=1),
    R(T.CP_FUNCTION_FEATURES, CpFeatures.LOAD | CpFeatures.OVRL, "IE_CPFunctionFeatures", LOAD=1, OVRL=1),
    R(T.USAGE_INFORMATION, pfcp.UsageInformation.BEF, "IE_UsageInformation", BEF=1),
    R(T.APPLICATION_INSTANCE_ID, b"inst", "IE_ApplicationInstanceId", id=b"inst"),
    R(T.FLOW_INFORMATION, pfcp.FlowInformation(pfcp.FlowDirection.UPLINK, "f"), "IE_FlowInformation",
      direction=2, flow=b"f"),
    R(T.UE_IP_ADDRESS, UeIpAddress(ipv4=IPv4Address("10.45.0.7"), is_destination=True), "IE_UE_IP_Address",
      V4=1, SD=1, ipv4="10.45.0.7"),
    R(T.UE_IP_ADDRESS, UeIpAddress(ipv6=V6), "IE_UE_IP_Address", V6=1, ipv6=str(V6)),
    R(T.OUTER_HEADER_REMOVAL, OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
      "IE_OuterHeaderRemoval", header=0),
    R(T.OUTER_HEADER_REMOVAL, OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV6, 1),
      "IE_OuterHeaderRemoval", header=1, length=2, spare=0, pdu_session_container=1),
    R(T.RECOVERY_TIME_STAMP, 3_900_000_000, "IE_RecoveryTimeStamp", timestamp=3_900_000_000),
    R(T.MEASUREMENT_INFORMATION, pfcp.MeasurementInformation.MBQE | pfcp.MeasurementInformation.ISTM,
      "IE_MeasurementInformation", MBQE=1, ISTM=1),
    R(T.NODE_REPORT_TYPE, pfcp.NodeReportType.UPFR, "IE_NodeReportType", UPFR=1),
    R(T.REMOTE_GTP_U_PEER, pfcp.RemoteGtpUPeer(ipv4=V4), "IE_RemoteGTP_U_Peer", V4=1, ipv4="10.0.0.2"),
    R(T.UR_SEQN, 3, "IE_UR_SEQN", number=3),
    R(T.ACTIVATE_PREDEFINED_RULES, "rule1", "IE_ActivatePredefinedRules", name=b"rule1"),
    R(T.DEACTIVATE_PREDEFINED_RULES, "rule2", "IE_DeactivatePredefinedRules", name=b"rule2"),
    R(T.FAR_ID, 0x10, "IE_FAR_Id", id=0x10),
    R(T.QER_ID, 0x11, "IE_QER_Id", id=0x11),
    R(T.OCI_FLAGS, pfcp.OciFlags.AOCI, "IE_OCIFlags", AOCI=1, spare=0),
    R(T.PFCP_ASSOCIATION_RELEASE_REQUEST, pfcp.AssociationReleaseRequestFlags.SARR,
      "IE_PFCPAssociationReleaseRequest", SARR=1, spare=0),
    R(T.GRACEFUL_RELEASE_PERIOD, pfcp.Timer(pfcp.TimerUnit.MINUTE_1, 2), "IE_GracefulReleasePeriod",
      release_timer_unit=1, release_timer_value=2),
    R(T.PDN_TYPE, pfcp.PdnType.IPV4V6, "IE_PDNType", pdn_type=3),
    R(T.FAILED_RULE_ID, pfcp.FailedRuleId(pfcp.RuleIdType.FAR, 5), "IE_FailedRuleId", type=1, far_id=5),
    R(T.FAILED_RULE_ID, pfcp.FailedRuleId(pfcp.RuleIdType.PDR, 6), "IE_FailedRuleId", type=0, pdr_id=6),
    R(T.USER_PLANE_IP_RESOURCE_INFORMATION,
      pfcp.UserPlaneIpResourceInformation(ipv4=V4, teid_range_indication=1, teid_range=5,
                                          network_instance=NetworkInstance(b"\x08internet")),
      "IE_UserPlaneIPResourceInformation", V4=1, TEIDRI=1, teid_range=5, ipv4="10.0.0.2", ASSONI=1,
      network_instance=b"internet"),
    R(T.USER_PLANE_INACTIVITY_TIMER, 300, "IE_UserPlaneInactivityTimer", timer=300),
    R(T.MULTIPLIER, pfcp.Multiplier(5, -1), "IE_Multiplier", digits=5, exponent=-1),
    R(T.AGGREGATED_URR_ID, 4, "IE_AggregatedURR_Id", id=4),
    R(T.SUBSEQUENT_TIME_QUOTA, 60, "IE_SubsequentTimeQuota", quota=60),
    R(T.RQI, True, "IE_RQI", RQI=1, spare=0),
    R(T.QFI, 9, "IE_QFI", QFI=9, spare=0),
    R(T.QUERY_URR_REFERENCE, 12, "IE_QueryURRReference", reference=12),
    R(T.ADDITIONAL_USAGE_REPORTS_INFORMATION, pfcp.AdditionalUsageReportsInformation(False, 3),
      "IE_AdditionalUsageReportsInformation", AURI=0, reports=3),
    R(T.TRAFFIC_ENDPOINT_ID, 2, "IE_TrafficEndpointId", id=2),
    R(T.ETHERTYPE, 0x0800, "IE_Ethertype", type=0x0800),
    R(T.ETHERNET_FILTER_ID, 77, "IE_EthernetFilterId", id=77),
    R(T.SUGGESTED_BUFFERING_PACKETS_COUNT, 10, "IE_SuggestedBufferingPacketsCount", count=10),
    R(T.EVENT_QUOTA, 5, "IE_EventQuota", event_quota=5),
    R(T.EVENT_THRESHOLD, 6, "IE_EventThreshold", event_threshold=6),
    R(T.AVERAGING_WINDOW, 2000, "IE_AveragingWindow", averaging_window=2000),
    R(T.PAGING_POLICY_INDICATOR, 3, "IE_PagingPolicyIndicator", ppi=3),
    R(T.INTERFACE_TYPE_3GPP, pfcp.InterfaceType3gpp.N3_3GPP_ACCESS, "IE_3GPP_InterfaceType", interface_type=11),
]


def _row_id(row: Row) -> str:
    return f"{row.ie_type.name}-{row.scapy_class}-{'-'.join(map(str, row.fields.values()))[:40]}"


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return v.encode() if not _looks_like_ip(v) else v
    return v


def _looks_like_ip(s: str) -> bool:
    try:
        IPv4Address(s) if ":" not in s else IPv6Address(s)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_scapy_encodes_we_decode(row: Row) -> None:
    cls = getattr(scapy_pfcp, row.scapy_class)
    data = bytes(cls(**row.fields))
    assert pfcp.decode_ie(data) == (row.ie_type, row.value)


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_we_encode_scapy_decodes(row: Row) -> None:
    cls = getattr(scapy_pfcp, row.scapy_class)
    data = pfcp.encode_ie(row.ie_type, row.value)
    parsed = cls(data)
    assert parsed.ietype == row.ie_type and parsed.length == len(data) - 4
    for name, expected in row.fields.items():
        got = parsed.getfieldval(name)
        if isinstance(expected, str) and _looks_like_ip(expected):
            assert str(got) == expected, name
        else:
            assert _norm(got) == _norm(expected), name
    if "extra_data" in [f.name for f in parsed.fields_desc]:
        assert parsed.getfieldval("extra_data") == row.scapy_extra, "scapy saw octets it did not expect"


def test_table_covers_many_ie_types() -> None:
    assert len({r.ie_type for r in ROWS}) >= 85


# --- whole messages -----------------------------------------------------------------------

CORPUS = corpus.messages()


@pytest.mark.parametrize("msg", CORPUS, ids=[f"{type(m).__name__}-{m.sequence}" for m in CORPUS])
def test_scapy_parses_our_messages(msg: pfcp.Message) -> None:
    if isinstance(msg, pfcp.NodeReportRequest) and msg.sequence == 16:
        # scapy reads the Remote GTP-U Peer's "Length of Destination Interface field" as one
        # octet; TS 29.244 8.2.70 (and Wireshark) make it two. Checked by test_tshark instead.
        pytest.skip("scapy's Remote GTP-U Peer DI length is one octet")
    data = pfcp.encode_message(msg)
    pkt = scapy_pfcp.PFCP(data)
    assert pkt.version == 1 and pkt.message_type == msg.message_type and pkt.seq == msg.sequence
    if msg.is_session:
        assert pkt.S == 1 and pkt.seid == (msg.seid or 0)
    assert bytes(pkt) == data  # scapy's dissection rebuilds the same octets
    assert "Raw" not in pkt.summary()


def _hb_scapy() -> Any:
    s = scapy_pfcp
    return s.PFCP(seq=7, S=0) / s.PFCPHeartbeatRequest(IE_list=[s.IE_RecoveryTimeStamp(timestamp=3_900_000_000)])


def _asr_scapy() -> Any:
    s = scapy_pfcp
    return s.PFCP(seq=8, S=0) / s.PFCPAssociationSetupRequest(
        IE_list=[
            s.IE_NodeId(id_type=0, ipv4="10.0.0.1"),
            s.IE_RecoveryTimeStamp(timestamp=3_900_000_000),
            s.IE_CPFunctionFeatures(LOAD=1),
        ]
    )


def _ser_scapy() -> Any:
    s = scapy_pfcp
    pdi = s.IE_PDI(
        IE_list=[
            s.IE_SourceInterface(interface=0),
            s.IE_FTEID(CH=1, V4=1),
            s.IE_NetworkInstance(instance="internet"),
            s.IE_QFI(QFI=9),
        ]
    )
    return s.PFCP(seq=9, S=1, seid=0) / s.PFCPSessionEstablishmentRequest(
        IE_list=[
            s.IE_NodeId(id_type=0, ipv4="10.0.0.1"),
            s.IE_FSEID(v4=1, seid=0xABCDEF, ipv4="10.0.0.1"),
            s.IE_CreatePDR(
                IE_list=[
                    s.IE_PDR_Id(id=1),
                    s.IE_Precedence(precedence=255),
                    pdi,
                    s.IE_OuterHeaderRemoval(header=0),
                    s.IE_FAR_Id(id=1),
                    s.IE_QER_Id(id=1),
                ]
            ),
            s.IE_CreateFAR(
                IE_list=[
                    s.IE_FAR_Id(id=1),
                    s.IE_ApplyAction(FORW=1),
                    s.IE_ForwardingParameters(
                        IE_list=[
                            s.IE_DestinationInterface(interface=1),
                            s.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x42, ipv4="192.168.1.10"),
                        ]
                    ),
                ]
            ),
            s.IE_CreateQER(
                IE_list=[
                    s.IE_QER_Id(id=1),
                    s.IE_GateStatus(),
                    s.IE_MBR(ul=1000, dl=2000),
                    s.IE_QFI(QFI=9),
                ]
            ),
        ]
    )


def _srr_scapy() -> Any:
    s = scapy_pfcp
    return s.PFCP(seq=10, S=1, seid=0x55) / s.PFCPSessionReportRequest(
        IE_list=[
            s.IE_ReportType(USAR=1),
            s.IE_UsageReport_SRR(
                IE_list=[
                    s.IE_URR_Id(id=1),
                    s.IE_UR_SEQN(number=2),
                    s.IE_UsageReportTrigger(VOLTH=1, extra_data=b"\x00"),  # 3 octets as in Rel-16
                    s.IE_VolumeMeasurement(TOVOL=1, total=1234),
                ]
            ),
        ]
    )


def test_scapy_messages_decode_to_expected_values() -> None:
    hb = pfcp.decode_message(bytes(_hb_scapy()))
    assert hb == pfcp.HeartbeatRequest(sequence=7, recovery_time_stamp=3_900_000_000)

    asr = pfcp.decode_message(bytes(_asr_scapy()))
    assert asr == pfcp.AssociationSetupRequest(
        sequence=8, node_id=NodeId(IPv4Address("10.0.0.1")), recovery_time_stamp=3_900_000_000,
        cp_function_features=CpFeatures.LOAD,
    )

    ser = pfcp.decode_message(bytes(_ser_scapy()))
    assert isinstance(ser, pfcp.SessionEstablishmentRequest)
    assert ser.seid == 0 and ser.cp_f_seid == FSeid(0xABCDEF, ipv4=IPv4Address("10.0.0.1"))
    pdr = ser.create_pdr[0]
    assert (pdr.pdr_id, pdr.precedence, pdr.far_id, pdr.qer_id) == (1, 255, 1, (1,))
    assert pdr.pdi.local_f_teid == FTeid(choose=True, choose_v4=True)
    assert pdr.pdi.network_instance is not None and pdr.pdi.network_instance.text == "internet"
    assert pdr.pdi.qfi == (9,)
    far = ser.create_far[0]
    assert far.apply_action == ApplyAction.FORW
    assert far.forwarding_parameters is not None
    ohc = far.forwarding_parameters.outer_header_creation
    assert ohc == OuterHeaderCreation(
        OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x42, ipv4=IPv4Address("192.168.1.10")
    )
    assert ser.create_qer[0].mbr == pfcp.Mbr(1000, 2000)

    srr = pfcp.decode_message(bytes(_srr_scapy()))
    assert isinstance(srr, pfcp.SessionReportRequest)
    assert srr.seid == 0x55 and srr.report_type == pfcp.ReportType.USAR
    assert srr.usage_report[0].volume_measurement == pfcp.VolumeMeasurement(total_volume=1234)


@pytest.mark.parametrize("build", [_hb_scapy, _asr_scapy, _ser_scapy, _srr_scapy])
def test_scapy_messages_reencode_byte_identical(build: Any) -> None:
    data = bytes(build())
    assert pfcp.encode_message(pfcp.decode_message(data)) == data
