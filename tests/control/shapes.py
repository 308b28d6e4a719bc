"""Session requests shaped like those of real SMFs (Open5GS, free5GC, OAI), built from our
pfcp dataclasses. Values follow what those SMFs send on N4 (captures and their source)."""

from __future__ import annotations

import ipaddress

from control.alloc import Allocator, AllocConfig, EndpointConfig, UePoolConfig
from control.apply import MapWriter
from control.compile import SessionRules
from control.layout import MapName, slot_key, teid_index, teid_key
from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    Gate,
    MeasurementMethod,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    PfcpsmReqFlags,
    ReportingTriggers,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.grouped import (
    CreateFar,
    CreatePdr,
    CreateQer,
    CreateUrr,
    ForwardingParameters,
    Pdi,
    UpdateFar,
    UpdateForwardingParameters,
)
from pfcp.ies.simple import GateStatus, Mbr, NetworkInstance, OuterHeaderRemoval

N3 = ipaddress.IPv4Address("192.0.2.1")
N9 = ipaddress.IPv4Address("198.51.100.1")
GNB = ipaddress.IPv4Address("192.0.2.100")
GNB2 = ipaddress.IPv4Address("192.0.2.101")
UE = ipaddress.IPv4Address("10.45.0.2")
INTERNET = NetworkInstance.from_text("internet")


def alloc_config(**kw: int) -> AllocConfig:
    return AllocConfig(
        endpoints=(EndpointConfig(0, N3), EndpointConfig(1, N9)),
        ue_pools=(UePoolConfig(None, ipaddress.IPv4Network("10.60.0.0/24"),
                               ipaddress.IPv6Network("2001:db8:60::/56")),),
        **kw,
    )


def allocator(**kw: int) -> Allocator:
    return Allocator(alloc_config(**kw))


def open5gs_establishment(ue: ipaddress.IPv4Address = UE) -> SessionRules:
    """Open5GS SMF: UL PDR with CH/CHID F-TEID, OHR 6, QER; DL PDR by UE address (D flag);
    DL FAR initially FORW with OHC towards the gNB is sent later, here BUFF+NOCP."""
    ul = CreatePdr(
        pdr_id=1, precedence=255,
        pdi=Pdi(SourceInterface.ACCESS,
                local_f_teid=FTeid(choose=True, choose_id=5, choose_v4=True),
                network_instance=INTERNET,
                ue_ip_address=UeIpAddress(ipv4=ue),
                qfi=(1,)),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IP),
        far_id=1, qer_id=(1,), urr_id=(1,),
    )
    dl = CreatePdr(
        pdr_id=2, precedence=255,
        pdi=Pdi(SourceInterface.CORE, network_instance=INTERNET,
                ue_ip_address=UeIpAddress(ipv4=ue, is_destination=True)),
        far_id=2, qer_id=(1,), urr_id=(1,),
    )
    return SessionRules(
        create_pdr=(ul, dl),
        create_far=(
            CreateFar(1, ApplyAction.FORW,
                      ForwardingParameters(DestinationInterface.CORE, INTERNET)),
            CreateFar(2, ApplyAction.BUFF | ApplyAction.NOCP),
        ),
        create_qer=(CreateQer(1, GateStatus(Gate.OPEN, Gate.OPEN), mbr=Mbr(1000000, 2000000),
                              qfi=1),),
        create_urr=(CreateUrr(1, MeasurementMethod.VOLUM, ReportingTriggers.PERIO,
                              measurement_period=60),),
    )


def gnb_far_update(teid: int, gnb: ipaddress.IPv4Address = GNB, *, sndem: bool = False,
                   tlm: int | None = None) -> UpdateFar:
    return UpdateFar(
        far_id=2, apply_action=ApplyAction.FORW,
        update_forwarding_parameters=UpdateForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=teid, ipv4=gnb),
            transport_level_marking=tlm,
            pfcpsmreq_flags=PfcpsmReqFlags.SNDEM if sndem else None,
        ),
    )


def free5gc_establishment() -> SessionRules:
    """free5GC: UL PDR F-TEID CH (no CHID), OHR 0; DL PDR UE IP with S/D clear; DL FAR
    already FORW with OHC (N2 setup done); no QER QFI on UL PDI."""
    ul = CreatePdr(
        pdr_id=1, precedence=32,
        pdi=Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True, choose_v4=True),
                network_instance=INTERNET),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
        far_id=1,
    )
    dl = CreatePdr(
        pdr_id=2, precedence=32,
        pdi=Pdi(SourceInterface.CORE, network_instance=INTERNET,
                ue_ip_address=UeIpAddress(ipv4=ipaddress.IPv4Address("10.60.0.1"))),
        far_id=2,
    )
    return SessionRules(
        create_pdr=(ul, dl),
        create_far=(
            CreateFar(1, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE)),
            CreateFar(2, ApplyAction.FORW, ForwardingParameters(
                DestinationInterface.ACCESS,
                outer_header_creation=OuterHeaderCreation(
                    OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x77, ipv4=GNB))),
        ),
    )


def oai_establishment() -> SessionRules:
    """OAI SMF: UE address allocated by the UPF (CHV4, UEIP feature), SMF-chosen TEID
    on the UL PDR (no CH), QER with QFI 9 on both PDRs."""
    ul = CreatePdr(
        pdr_id=1, precedence=0,
        pdi=Pdi(SourceInterface.ACCESS,
                local_f_teid=FTeid(teid=0x1001, ipv4=N3),
                ue_ip_address=UeIpAddress(choose_v4=True)),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
        far_id=1, qer_id=(1,),
    )
    dl = CreatePdr(
        pdr_id=2, precedence=0,
        pdi=Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(choose_v4=True,
                                                                is_destination=True)),
        far_id=2, qer_id=(1,),
    )
    return SessionRules(
        create_pdr=(ul, dl),
        create_far=(
            CreateFar(1, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE)),
            CreateFar(2, ApplyAction.DROP),
        ),
        create_qer=(CreateQer(1, GateStatus(), qfi=9),),
    )


def uplink_set(maps: MapWriter, teid: int) -> bytes | None:
    """The pdr_set the fast path finds for an uplink TEID: uplink_by_teid[index] when that
    slot holds this TEID (count > 0), else uplink_pdrs[teid] (xdp/upf_shared.h)."""
    raw = maps.lookup(MapName.UPLINK_BY_TEID, slot_key(teid_index(teid)))
    if raw is not None and int.from_bytes(raw[:4], "little") > 0 and raw[4:8] == teid_key(teid):
        return raw
    return maps.lookup(MapName.UPLINK_PDRS, teid_key(teid))
