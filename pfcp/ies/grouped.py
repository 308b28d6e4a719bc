"""Grouped IEs that provision a session's rules: Create/Update/Remove PDR, FAR, URR, QER, BAR
and Traffic Endpoint, with PDI, Forwarding/Duplicating Parameters (TS 29.244 7.5.2, 7.5.4).

Each dataclass is followed by its table: ``(IE type, field, presence, multiple)`` in the spec's
order. Mandatory fields come first in the dataclass (no default); encoding follows the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    IEType,
    InterfaceType3gpp,
    MeasurementInformation,
    MeasurementMethod,
    PfcpsmReqFlags,
    ReportingTriggers,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.base import C, Field, IeOrder, M, O, RawIe, conditional_missing, grouped
from pfcp.ies.filters import RedirectInformation, SdfFilter
from pfcp.ies.simple import (
    DroppedDlTrafficThreshold,
    GateStatus,
    Gbr,
    Mbr,
    Multiplier,
    NetworkInstance,
    OuterHeaderRemoval,
    SubsequentVolumeQuota,
    SubsequentVolumeThreshold,
    TimeQuotaMechanism,
    Timer,
    VolumeQuota,
    VolumeThreshold,
)

T = IEType
F = Field


@dataclass(frozen=True, slots=True)
class EthernetPacketFilter:
    """TS 29.244 7.5.2.2-3."""

    ethernet_filter_id: int | None = None
    ethernet_filter_properties: int | None = None
    mac_address: tuple[bytes, ...] = ()
    ethertype: int | None = None
    c_tag: bytes | None = None
    s_tag: bytes | None = None
    sdf_filter: tuple[SdfFilter, ...] = ()
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.ETHERNET_PACKET_FILTER, EthernetPacketFilter, (
    F(T.ETHERNET_FILTER_ID, "ethernet_filter_id", C),
    F(T.ETHERNET_FILTER_PROPERTIES, "ethernet_filter_properties", C),
    F(T.MAC_ADDRESS, "mac_address", O, True),
    F(T.ETHERTYPE, "ethertype", O),
    F(T.C_TAG, "c_tag", O),
    F(T.S_TAG, "s_tag", O),
    F(T.SDF_FILTER, "sdf_filter", O, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pdi:
    """Packet Detection Information, TS 29.244 7.5.2.2-2."""

    source_interface: SourceInterface
    local_f_teid: FTeid | None = None
    network_instance: NetworkInstance | None = None
    ue_ip_address: UeIpAddress | None = None
    traffic_endpoint_id: tuple[int, ...] = ()
    sdf_filter: tuple[SdfFilter, ...] = ()
    application_id: str | None = None
    ethernet_pdu_session_information: int | None = None
    ethernet_packet_filter: tuple[EthernetPacketFilter, ...] = ()
    qfi: tuple[int, ...] = ()
    framed_route: tuple[bytes, ...] = ()
    framed_routing: int | None = None
    framed_ipv6_route: tuple[bytes, ...] = ()
    source_interface_type: InterfaceType3gpp | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.PDI, Pdi, (
    F(T.SOURCE_INTERFACE, "source_interface", M),
    F(T.F_TEID, "local_f_teid", O),
    F(T.NETWORK_INSTANCE, "network_instance", O),
    F(T.UE_IP_ADDRESS, "ue_ip_address", O),
    F(T.TRAFFIC_ENDPOINT_ID, "traffic_endpoint_id", C, True),
    F(T.SDF_FILTER, "sdf_filter", O, True),
    F(T.APPLICATION_ID, "application_id", O),
    F(T.ETHERNET_PDU_SESSION_INFORMATION, "ethernet_pdu_session_information", O),
    F(T.ETHERNET_PACKET_FILTER, "ethernet_packet_filter", O, True),
    F(T.QFI, "qfi", O, True),
    F(T.FRAMED_ROUTE, "framed_route", O, True),
    F(T.FRAMED_ROUTING, "framed_routing", O),
    F(T.FRAMED_IPV6_ROUTE, "framed_ipv6_route", O, True),
    F(T.INTERFACE_TYPE_3GPP, "source_interface_type", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreatePdr:
    """TS 29.244 7.5.2.2-1."""

    pdr_id: int
    precedence: int
    pdi: Pdi
    outer_header_removal: OuterHeaderRemoval | None = None
    far_id: int | None = None
    urr_id: tuple[int, ...] = ()
    qer_id: tuple[int, ...] = ()
    activate_predefined_rules: tuple[str, ...] = ()
    activation_time: int | None = None
    deactivation_time: int | None = None
    mar_id: int | None = None
    ue_ip_address_pool_identity: tuple[bytes, ...] = ()
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.CREATE_PDR, CreatePdr, (
    F(T.PDR_ID, "pdr_id", M),
    F(T.PRECEDENCE, "precedence", M),
    F(T.PDI, "pdi", M),
    F(T.OUTER_HEADER_REMOVAL, "outer_header_removal", C),
    F(T.FAR_ID, "far_id", C),
    F(T.URR_ID, "urr_id", C, True),
    F(T.QER_ID, "qer_id", C, True),
    F(T.ACTIVATE_PREDEFINED_RULES, "activate_predefined_rules", C, True),
    F(T.ACTIVATION_TIME, "activation_time", O),
    F(T.DEACTIVATION_TIME, "deactivation_time", O),
    F(T.MAR_ID, "mar_id", C),
    F(T.UE_IP_ADDRESS_POOL_IDENTITY, "ue_ip_address_pool_identity", C, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ForwardingParameters:
    """TS 29.244 7.5.2.3-2."""

    destination_interface: DestinationInterface
    network_instance: NetworkInstance | None = None
    redirect_information: RedirectInformation | None = None
    outer_header_creation: OuterHeaderCreation | None = None
    transport_level_marking: int | None = None
    forwarding_policy: bytes | None = None
    header_enrichment: bytes | None = None
    linked_traffic_endpoint_id: int | None = None
    proxying: int | None = None
    destination_interface_type: InterfaceType3gpp | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.FORWARDING_PARAMETERS, ForwardingParameters, (
    F(T.DESTINATION_INTERFACE, "destination_interface", M),
    F(T.NETWORK_INSTANCE, "network_instance", O),
    F(T.REDIRECT_INFORMATION, "redirect_information", C),
    F(T.OUTER_HEADER_CREATION, "outer_header_creation", C),
    F(T.TRANSPORT_LEVEL_MARKING, "transport_level_marking", C),
    F(T.FORWARDING_POLICY, "forwarding_policy", C),
    F(T.HEADER_ENRICHMENT, "header_enrichment", O),
    F(T.TRAFFIC_ENDPOINT_ID, "linked_traffic_endpoint_id", C),
    F(T.PROXYING, "proxying", C),
    F(T.INTERFACE_TYPE_3GPP, "destination_interface_type", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DuplicatingParameters:
    """TS 29.244 7.5.2.3-3."""

    destination_interface: DestinationInterface
    outer_header_creation: OuterHeaderCreation | None = None
    transport_level_marking: int | None = None
    forwarding_policy: bytes | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.DUPLICATING_PARAMETERS, DuplicatingParameters, (
    F(T.DESTINATION_INTERFACE, "destination_interface", M),
    F(T.OUTER_HEADER_CREATION, "outer_header_creation", C),
    F(T.TRANSPORT_LEVEL_MARKING, "transport_level_marking", C),
    F(T.FORWARDING_POLICY, "forwarding_policy", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreateFar:
    """TS 29.244 7.5.2.3-1."""

    far_id: int
    apply_action: ApplyAction
    forwarding_parameters: ForwardingParameters | None = None
    duplicating_parameters: tuple[DuplicatingParameters, ...] = ()
    bar_id: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_FORW, _DUPL = int(ApplyAction.FORW), int(ApplyAction.DUPL)


def _check_far(far: CreateFar) -> None:
    # Reads the action and which parameters are present: a request shape (pfcp/shapes.py)
    # fixes both, so a FAR rebuilt with another tunnel passes it as its template did.
    action = int(far.apply_action)
    if action & _FORW and far.forwarding_parameters is None:
        raise conditional_missing(T.FORWARDING_PARAMETERS, f"FAR {far.far_id} forwards")
    if action & _DUPL and not far.duplicating_parameters:
        raise conditional_missing(T.DUPLICATING_PARAMETERS, f"FAR {far.far_id} duplicates")


grouped(T.CREATE_FAR, CreateFar, (
    F(T.FAR_ID, "far_id", M),
    F(T.APPLY_ACTION, "apply_action", M),
    F(T.FORWARDING_PARAMETERS, "forwarding_parameters", C),
    F(T.DUPLICATING_PARAMETERS, "duplicating_parameters", C, True),
    F(T.BAR_ID, "bar_id", O),
), (_check_far,))  # fmt: skip
_check_far.shape_invariant = True  # type: ignore[attr-defined]  # (see pfcp/shapes.py)


@dataclass(frozen=True, slots=True)
class AggregatedUrrs:
    """TS 29.244 7.5.2.4-2."""

    aggregated_urr_id: int
    multiplier: Multiplier
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.AGGREGATED_URRS, AggregatedUrrs, (
    F(T.AGGREGATED_URR_ID, "aggregated_urr_id", M),
    F(T.MULTIPLIER, "multiplier", M),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AdditionalMonitoringTime:
    """TS 29.244 7.5.2.4-3."""

    monitoring_time: int
    subsequent_volume_threshold: SubsequentVolumeThreshold | None = None
    subsequent_time_threshold: int | None = None
    subsequent_volume_quota: SubsequentVolumeQuota | None = None
    subsequent_time_quota: int | None = None
    subsequent_event_threshold: int | None = None
    subsequent_event_quota: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.ADDITIONAL_MONITORING_TIME, AdditionalMonitoringTime, (
    F(T.MONITORING_TIME, "monitoring_time", M),
    F(T.SUBSEQUENT_VOLUME_THRESHOLD, "subsequent_volume_threshold", O),
    F(T.SUBSEQUENT_TIME_THRESHOLD, "subsequent_time_threshold", O),
    F(T.SUBSEQUENT_VOLUME_QUOTA, "subsequent_volume_quota", O),
    F(T.SUBSEQUENT_TIME_QUOTA, "subsequent_time_quota", O),
    F(T.SUBSEQUENT_EVENT_THRESHOLD, "subsequent_event_threshold", O),
    F(T.SUBSEQUENT_EVENT_QUOTA, "subsequent_event_quota", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreateUrr:
    """TS 29.244 7.5.2.4-1."""

    urr_id: int
    measurement_method: MeasurementMethod
    reporting_triggers: ReportingTriggers
    measurement_period: int | None = None
    volume_threshold: VolumeThreshold | None = None
    volume_quota: VolumeQuota | None = None
    event_threshold: int | None = None
    event_quota: int | None = None
    time_threshold: int | None = None
    time_quota: int | None = None
    quota_holding_time: int | None = None
    dropped_dl_traffic_threshold: DroppedDlTrafficThreshold | None = None
    quota_validity_time: int | None = None
    monitoring_time: int | None = None
    subsequent_volume_threshold: SubsequentVolumeThreshold | None = None
    subsequent_time_threshold: int | None = None
    subsequent_volume_quota: SubsequentVolumeQuota | None = None
    subsequent_time_quota: int | None = None
    subsequent_event_threshold: int | None = None
    subsequent_event_quota: int | None = None
    inactivity_detection_time: int | None = None
    linked_urr_id: tuple[int, ...] = ()
    measurement_information: MeasurementInformation | None = None
    time_quota_mechanism: TimeQuotaMechanism | None = None
    aggregated_urrs: tuple[AggregatedUrrs, ...] = ()
    far_id_for_quota_action: int | None = None
    ethernet_inactivity_timer: int | None = None
    additional_monitoring_time: tuple[AdditionalMonitoringTime, ...] = ()
    number_of_reports: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_URR_ROWS = (
    F(T.URR_ID, "urr_id", M),
    F(T.MEASUREMENT_METHOD, "measurement_method", M),
    F(T.REPORTING_TRIGGERS, "reporting_triggers", M),
    F(T.MEASUREMENT_PERIOD, "measurement_period", C),
    F(T.VOLUME_THRESHOLD, "volume_threshold", C),
    F(T.VOLUME_QUOTA, "volume_quota", C),
    F(T.EVENT_THRESHOLD, "event_threshold", C),
    F(T.EVENT_QUOTA, "event_quota", C),
    F(T.TIME_THRESHOLD, "time_threshold", C),
    F(T.TIME_QUOTA, "time_quota", C),
    F(T.QUOTA_HOLDING_TIME, "quota_holding_time", C),
    F(T.DROPPED_DL_TRAFFIC_THRESHOLD, "dropped_dl_traffic_threshold", C),
    F(T.QUOTA_VALIDITY_TIME, "quota_validity_time", C),
    F(T.MONITORING_TIME, "monitoring_time", O),
    F(T.SUBSEQUENT_VOLUME_THRESHOLD, "subsequent_volume_threshold", O),
    F(T.SUBSEQUENT_TIME_THRESHOLD, "subsequent_time_threshold", O),
    F(T.SUBSEQUENT_VOLUME_QUOTA, "subsequent_volume_quota", O),
    F(T.SUBSEQUENT_TIME_QUOTA, "subsequent_time_quota", O),
    F(T.SUBSEQUENT_EVENT_THRESHOLD, "subsequent_event_threshold", O),
    F(T.SUBSEQUENT_EVENT_QUOTA, "subsequent_event_quota", O),
    F(T.INACTIVITY_DETECTION_TIME, "inactivity_detection_time", C),
    F(T.LINKED_URR_ID, "linked_urr_id", C, True),
    F(T.MEASUREMENT_INFORMATION, "measurement_information", C),
    F(T.TIME_QUOTA_MECHANISM, "time_quota_mechanism", C),
    F(T.AGGREGATED_URRS, "aggregated_urrs", C, True),
    F(T.FAR_ID, "far_id_for_quota_action", C),
    F(T.ETHERNET_INACTIVITY_TIMER, "ethernet_inactivity_timer", C),
    F(T.ADDITIONAL_MONITORING_TIME, "additional_monitoring_time", O, True),
    F(T.NUMBER_OF_REPORTS, "number_of_reports", O),
)

_RT = ReportingTriggers
_URR_CONDITIONS = (
    (_RT.PERIO, "measurement_period", T.MEASUREMENT_PERIOD),
    (_RT.VOLTH, "volume_threshold", T.VOLUME_THRESHOLD),
    (_RT.TIMTH, "time_threshold", T.TIME_THRESHOLD),
    (_RT.VOLQU, "volume_quota", T.VOLUME_QUOTA),
    (_RT.TIMQU, "time_quota", T.TIME_QUOTA),
)
_URR_CONDITION_MASK = int(_RT.PERIO | _RT.VOLTH | _RT.TIMTH | _RT.VOLQU | _RT.TIMQU)
_URR_CONDITIONS_INT = tuple((int(bit), bit.name, name, t) for bit, name, t in _URR_CONDITIONS)


# the conditions a Reporting Triggers value sets (memoised by the value's conditional bits)
_URR_CONDITIONS_BY_BITS: dict[int, tuple[tuple[int, str | None, str, IEType], ...]] = {}


def _check_create_urr(urr: CreateUrr) -> None:
    bits = int(urr.reporting_triggers) & _URR_CONDITION_MASK
    if not bits:
        return
    conditions = _URR_CONDITIONS_BY_BITS.get(bits)
    if conditions is None:
        conditions = tuple(c for c in _URR_CONDITIONS_INT if bits & c[0])
        _URR_CONDITIONS_BY_BITS[bits] = conditions  # at most 2**5 keys
    for _, trigger, name, ie_type in conditions:
        if getattr(urr, name) is None:
            raise conditional_missing(ie_type, f"URR {urr.urr_id} has trigger {trigger}")


grouped(T.CREATE_URR, CreateUrr, _URR_ROWS, (_check_create_urr,))


@dataclass(frozen=True, slots=True)
class CreateQer:
    """TS 29.244 7.5.2.5-1."""

    qer_id: int
    gate_status: GateStatus
    qer_correlation_id: int | None = None
    mbr: Mbr | None = None
    gbr: Gbr | None = None
    packet_rate: bytes | None = None
    dl_flow_level_marking: bytes | None = None
    qfi: int | None = None
    rqi: bool | None = None
    paging_policy_indicator: int | None = None
    averaging_window: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_QER_ROWS = (
    F(T.QER_ID, "qer_id", M),
    F(T.QER_CORRELATION_ID, "qer_correlation_id", C),
    F(T.GATE_STATUS, "gate_status", M),
    F(T.MBR, "mbr", C),
    F(T.GBR, "gbr", C),
    F(T.PACKET_RATE, "packet_rate", C),
    F(T.DL_FLOW_LEVEL_MARKING, "dl_flow_level_marking", C),
    F(T.QFI, "qfi", C),
    F(T.RQI, "rqi", C),
    F(T.PAGING_POLICY_INDICATOR, "paging_policy_indicator", C),
    F(T.AVERAGING_WINDOW, "averaging_window", O),
)
grouped(T.CREATE_QER, CreateQer, _QER_ROWS)


@dataclass(frozen=True, slots=True)
class CreateBar:
    """TS 29.244 7.5.2.6-1."""

    bar_id: int
    downlink_data_notification_delay: int | None = None
    suggested_buffering_packets_count: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_BAR_ROWS = (
    F(T.BAR_ID, "bar_id", M),
    F(T.DOWNLINK_DATA_NOTIFICATION_DELAY, "downlink_data_notification_delay", C),
    F(T.SUGGESTED_BUFFERING_PACKETS_COUNT, "suggested_buffering_packets_count", C),
)
grouped(T.CREATE_BAR, CreateBar, _BAR_ROWS)


@dataclass(frozen=True, slots=True)
class CreateTrafficEndpoint:
    """TS 29.244 7.5.2.7-1."""

    traffic_endpoint_id: int
    local_f_teid: FTeid | None = None
    network_instance: NetworkInstance | None = None
    ue_ip_address: UeIpAddress | None = None
    ethernet_pdu_session_information: int | None = None
    framed_route: tuple[bytes, ...] = ()
    framed_routing: int | None = None
    framed_ipv6_route: tuple[bytes, ...] = ()
    qfi: tuple[int, ...] = ()
    source_interface_type: InterfaceType3gpp | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_TE_ROWS = (
    F(T.TRAFFIC_ENDPOINT_ID, "traffic_endpoint_id", M),
    F(T.F_TEID, "local_f_teid", O),
    F(T.NETWORK_INSTANCE, "network_instance", O),
    F(T.UE_IP_ADDRESS, "ue_ip_address", O),
    F(T.ETHERNET_PDU_SESSION_INFORMATION, "ethernet_pdu_session_information", O),
    F(T.FRAMED_ROUTE, "framed_route", O, True),
    F(T.FRAMED_ROUTING, "framed_routing", O),
    F(T.FRAMED_IPV6_ROUTE, "framed_ipv6_route", O, True),
    F(T.QFI, "qfi", O, True),
    F(T.INTERFACE_TYPE_3GPP, "source_interface_type", O),
)
grouped(T.CREATE_TRAFFIC_ENDPOINT, CreateTrafficEndpoint, _TE_ROWS)


# --- Session Modification: Update and Remove (TS 29.244 7.5.4) ----------------------------


@dataclass(frozen=True, slots=True)
class UpdatePdr:
    """TS 29.244 7.5.4.2-1."""

    pdr_id: int
    outer_header_removal: OuterHeaderRemoval | None = None
    precedence: int | None = None
    pdi: Pdi | None = None
    far_id: int | None = None
    urr_id: tuple[int, ...] = ()
    qer_id: tuple[int, ...] = ()
    activate_predefined_rules: tuple[str, ...] = ()
    deactivate_predefined_rules: tuple[str, ...] = ()
    activation_time: int | None = None
    deactivation_time: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_PDR, UpdatePdr, (
    F(T.PDR_ID, "pdr_id", M),
    F(T.OUTER_HEADER_REMOVAL, "outer_header_removal", C),
    F(T.PRECEDENCE, "precedence", C),
    F(T.PDI, "pdi", C),
    F(T.FAR_ID, "far_id", C),
    F(T.URR_ID, "urr_id", C, True),
    F(T.QER_ID, "qer_id", C, True),
    F(T.ACTIVATE_PREDEFINED_RULES, "activate_predefined_rules", C, True),
    F(T.DEACTIVATE_PREDEFINED_RULES, "deactivate_predefined_rules", C, True),
    F(T.ACTIVATION_TIME, "activation_time", O),
    F(T.DEACTIVATION_TIME, "deactivation_time", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateForwardingParameters:
    """TS 29.244 7.5.4.3-2."""

    destination_interface: DestinationInterface | None = None
    network_instance: NetworkInstance | None = None
    redirect_information: RedirectInformation | None = None
    outer_header_creation: OuterHeaderCreation | None = None
    transport_level_marking: int | None = None
    forwarding_policy: bytes | None = None
    header_enrichment: bytes | None = None
    pfcpsmreq_flags: PfcpsmReqFlags | None = None
    linked_traffic_endpoint_id: int | None = None
    destination_interface_type: InterfaceType3gpp | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_FORWARDING_PARAMETERS, UpdateForwardingParameters, (
    F(T.DESTINATION_INTERFACE, "destination_interface", C),
    F(T.NETWORK_INSTANCE, "network_instance", C),
    F(T.REDIRECT_INFORMATION, "redirect_information", C),
    F(T.OUTER_HEADER_CREATION, "outer_header_creation", C),
    F(T.TRANSPORT_LEVEL_MARKING, "transport_level_marking", C),
    F(T.FORWARDING_POLICY, "forwarding_policy", C),
    F(T.HEADER_ENRICHMENT, "header_enrichment", C),
    F(T.PFCPSMREQ_FLAGS, "pfcpsmreq_flags", C),
    F(T.TRAFFIC_ENDPOINT_ID, "linked_traffic_endpoint_id", C),
    F(T.INTERFACE_TYPE_3GPP, "destination_interface_type", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateDuplicatingParameters:
    """TS 29.244 7.5.4.3-3."""

    destination_interface: DestinationInterface | None = None
    outer_header_creation: OuterHeaderCreation | None = None
    transport_level_marking: int | None = None
    forwarding_policy: bytes | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_DUPLICATING_PARAMETERS, UpdateDuplicatingParameters, (
    F(T.DESTINATION_INTERFACE, "destination_interface", C),
    F(T.OUTER_HEADER_CREATION, "outer_header_creation", C),
    F(T.TRANSPORT_LEVEL_MARKING, "transport_level_marking", C),
    F(T.FORWARDING_POLICY, "forwarding_policy", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateFar:
    """TS 29.244 7.5.4.3-1."""

    far_id: int
    apply_action: ApplyAction | None = None
    update_forwarding_parameters: UpdateForwardingParameters | None = None
    update_duplicating_parameters: tuple[UpdateDuplicatingParameters, ...] = ()
    bar_id: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_FAR, UpdateFar, (
    F(T.FAR_ID, "far_id", M),
    F(T.APPLY_ACTION, "apply_action", C),
    F(T.UPDATE_FORWARDING_PARAMETERS, "update_forwarding_parameters", C),
    F(T.UPDATE_DUPLICATING_PARAMETERS, "update_duplicating_parameters", C, True),
    F(T.BAR_ID, "bar_id", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateUrr:
    """TS 29.244 7.5.4.4-1: as Create URR with every IE but the URR ID conditional."""

    urr_id: int
    measurement_method: MeasurementMethod | None = None
    reporting_triggers: ReportingTriggers | None = None
    measurement_period: int | None = None
    volume_threshold: VolumeThreshold | None = None
    volume_quota: VolumeQuota | None = None
    event_threshold: int | None = None
    event_quota: int | None = None
    time_threshold: int | None = None
    time_quota: int | None = None
    quota_holding_time: int | None = None
    dropped_dl_traffic_threshold: DroppedDlTrafficThreshold | None = None
    quota_validity_time: int | None = None
    monitoring_time: int | None = None
    subsequent_volume_threshold: SubsequentVolumeThreshold | None = None
    subsequent_time_threshold: int | None = None
    subsequent_volume_quota: SubsequentVolumeQuota | None = None
    subsequent_time_quota: int | None = None
    subsequent_event_threshold: int | None = None
    subsequent_event_quota: int | None = None
    inactivity_detection_time: int | None = None
    linked_urr_id: tuple[int, ...] = ()
    measurement_information: MeasurementInformation | None = None
    time_quota_mechanism: TimeQuotaMechanism | None = None
    aggregated_urrs: tuple[AggregatedUrrs, ...] = ()
    far_id_for_quota_action: int | None = None
    ethernet_inactivity_timer: int | None = None
    additional_monitoring_time: tuple[AdditionalMonitoringTime, ...] = ()
    number_of_reports: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_URR, UpdateUrr, tuple(r if r.presence != M or r.name == "urr_id" else r._replace(presence=C) for r in _URR_ROWS))


@dataclass(frozen=True, slots=True)
class UpdateQer:
    """TS 29.244 7.5.4.5-1."""

    qer_id: int
    gate_status: GateStatus | None = None
    qer_correlation_id: int | None = None
    mbr: Mbr | None = None
    gbr: Gbr | None = None
    packet_rate: bytes | None = None
    dl_flow_level_marking: bytes | None = None
    qfi: int | None = None
    rqi: bool | None = None
    paging_policy_indicator: int | None = None
    averaging_window: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_QER, UpdateQer, tuple(r if r.name == "qer_id" else r._replace(presence=C) for r in _QER_ROWS))


@dataclass(frozen=True, slots=True)
class UpdateBar:
    """Update BAR IE within Session Modification Request, TS 29.244 7.5.4.8-1."""

    bar_id: int
    downlink_data_notification_delay: int | None = None
    suggested_buffering_packets_count: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_BAR_SESSION_MODIFICATION_REQUEST, UpdateBar, _BAR_ROWS)


@dataclass(frozen=True, slots=True)
class UpdateBarReportResponse:
    """Update BAR IE within Session Report Response, TS 29.244 7.5.9.2-1."""

    bar_id: int
    downlink_data_notification_delay: int | None = None
    dl_buffering_duration: Timer | None = None
    dl_buffering_suggested_packet_count: int | None = None
    suggested_buffering_packets_count: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, UpdateBarReportResponse, (
    F(T.BAR_ID, "bar_id", M),
    F(T.DOWNLINK_DATA_NOTIFICATION_DELAY, "downlink_data_notification_delay", C),
    F(T.DL_BUFFERING_DURATION, "dl_buffering_duration", C),
    F(T.DL_BUFFERING_SUGGESTED_PACKET_COUNT, "dl_buffering_suggested_packet_count", O),
    F(T.SUGGESTED_BUFFERING_PACKETS_COUNT, "suggested_buffering_packets_count", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateTrafficEndpoint:
    """TS 29.244 7.5.4.13-1."""

    traffic_endpoint_id: int
    local_f_teid: FTeid | None = None
    network_instance: NetworkInstance | None = None
    ue_ip_address: UeIpAddress | None = None
    ethernet_pdu_session_information: int | None = None
    framed_route: tuple[bytes, ...] = ()
    framed_routing: int | None = None
    framed_ipv6_route: tuple[bytes, ...] = ()
    qfi: tuple[int, ...] = ()
    source_interface_type: InterfaceType3gpp | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.UPDATE_TRAFFIC_ENDPOINT, UpdateTrafficEndpoint, tuple(r if r.presence == M else r._replace(presence=C) for r in _TE_ROWS))


@dataclass(frozen=True, slots=True)
class RemovePdr:
    """TS 29.244 7.5.4.6."""

    pdr_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveFar:
    """TS 29.244 7.5.4.7."""

    far_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveUrr:
    """TS 29.244 7.5.4.8."""

    urr_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveQer:
    """TS 29.244 7.5.4.9."""

    qer_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveBar:
    """TS 29.244 7.5.4.12."""

    bar_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveTrafficEndpoint:
    """TS 29.244 7.5.4.14."""

    traffic_endpoint_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class QueryUrr:
    """TS 29.244 7.5.4.10."""

    urr_id: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.REMOVE_PDR, RemovePdr, (F(T.PDR_ID, "pdr_id", M),))
grouped(T.REMOVE_FAR, RemoveFar, (F(T.FAR_ID, "far_id", M),))
grouped(T.REMOVE_URR, RemoveUrr, (F(T.URR_ID, "urr_id", M),))
grouped(T.REMOVE_QER, RemoveQer, (F(T.QER_ID, "qer_id", M),))
grouped(T.REMOVE_BAR, RemoveBar, (F(T.BAR_ID, "bar_id", M),))
grouped(T.REMOVE_TRAFFIC_ENDPOINT, RemoveTrafficEndpoint, (F(T.TRAFFIC_ENDPOINT_ID, "traffic_endpoint_id", M),))
grouped(T.QUERY_URR, QueryUrr, (F(T.URR_ID, "urr_id", M),))
