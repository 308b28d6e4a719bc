"""Sample messages shared by the pfcp tests, the fuzzer and the benchmark."""

from __future__ import annotations

from ipaddress import IPv4Address

from pfcp import (
    ApplyAction,
    Cause,
    CreatedPdr,
    CreateFar,
    CreatePdr,
    CreateQer,
    CreateUrr,
    DestinationInterface,
    ForwardingParameters,
    FSeid,
    FTeid,
    GateStatus,
    Mbr,
    MeasurementMethod,
    NetworkInstance,
    NodeId,
    OuterHeaderCreation,
    OuterHeaderCreationDescription,
    OuterHeaderRemoval,
    OuterHeaderRemovalDescription,
    Pdi,
    ReportingTriggers,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SourceInterface,
    UeIpAddress,
    VolumeThreshold,
)

SMF = IPv4Address("10.0.0.1")
UPF = IPv4Address("10.0.0.2")
GNB = IPv4Address("192.168.1.10")
UE = IPv4Address("10.45.0.7")


def establishment_request(sequence: int = 1) -> SessionEstablishmentRequest:
    """The benchmark's request: 2 PDRs, 2 FARs (one with OHC), 1 QER (MBR, QFI), 1 URR."""
    internet = NetworkInstance.from_text("internet")
    return SessionEstablishmentRequest(
        sequence=sequence,
        seid=0,
        node_id=NodeId(SMF),
        cp_f_seid=FSeid(0x1122334455667788, ipv4=SMF),
        create_pdr=(
            CreatePdr(
                pdr_id=1,
                precedence=255,
                pdi=Pdi(
                    source_interface=SourceInterface.ACCESS,
                    local_f_teid=FTeid(choose=True, choose_v4=True, choose_id=5),
                    network_instance=internet,
                    qfi=(9,),
                ),
                outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
                far_id=1,
                urr_id=(1,),
                qer_id=(1,),
            ),
            CreatePdr(
                pdr_id=2,
                precedence=255,
                pdi=Pdi(
                    source_interface=SourceInterface.CORE,
                    network_instance=internet,
                    ue_ip_address=UeIpAddress(ipv4=UE, is_destination=True),
                ),
                far_id=2,
                urr_id=(1,),
                qer_id=(1,),
            ),
        ),
        create_far=(
            CreateFar(
                far_id=1,
                apply_action=ApplyAction.FORW,
                forwarding_parameters=ForwardingParameters(
                    destination_interface=DestinationInterface.CORE, network_instance=internet
                ),
            ),
            CreateFar(
                far_id=2,
                apply_action=ApplyAction.FORW,
                forwarding_parameters=ForwardingParameters(
                    destination_interface=DestinationInterface.ACCESS,
                    outer_header_creation=OuterHeaderCreation(
                        OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x01020304, ipv4=GNB
                    ),
                ),
            ),
        ),
        create_urr=(
            CreateUrr(
                urr_id=1,
                measurement_method=MeasurementMethod.VOLUM,
                reporting_triggers=ReportingTriggers.VOLTH,
                volume_threshold=VolumeThreshold(total=10_000_000),
            ),
        ),
        create_qer=(
            CreateQer(
                qer_id=1,
                gate_status=GateStatus(),
                mbr=Mbr(ul=100_000, dl=200_000),
                qfi=9,
            ),
        ),
    )


def establishment_response(sequence: int = 1) -> SessionEstablishmentResponse:
    return SessionEstablishmentResponse(
        sequence=sequence,
        seid=0x1122334455667788,
        node_id=NodeId(UPF),
        cause=Cause.REQUEST_ACCEPTED,
        up_f_seid=FSeid(0x8000000000000001, ipv4=UPF),
        created_pdr=(CreatedPdr(pdr_id=1, local_f_teid=FTeid(teid=0x00ABCDEF, ipv4=UPF)),),
    )

