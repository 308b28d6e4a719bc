"""Grouped IEs the UP function reports or answers with: Created PDR, Created Traffic Endpoint,
Usage Reports, Downlink Data Report, Error Indication Report, path failure/recovery reports,
Load/Overload Control Information and the PFD management IEs (TS 29.244 7.4, 7.5)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pfcp.enums import IEType, OciFlags, UsageInformation, UsageReportTrigger
from pfcp.ies.address import FTeid, RemoteGtpUPeer, UeIpAddress
from pfcp.ies.base import C, Field, IeOrder, M, O, RawIe, grouped
from pfcp.ies.filters import FlowInformation, PfdContents
from pfcp.ies.simple import (
    DownlinkDataServiceInformation,
    NetworkInstance,
    Timer,
    VolumeMeasurement,
)

T = IEType
F = Field


@dataclass(frozen=True, slots=True)
class CreatedPdr:
    """TS 29.244 7.5.3.2-1."""

    pdr_id: int
    local_f_teid: FTeid | None = None
    ue_ip_address: UeIpAddress | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.CREATED_PDR, CreatedPdr, (
    F(T.PDR_ID, "pdr_id", M),
    F(T.F_TEID, "local_f_teid", C),
    F(T.UE_IP_ADDRESS, "ue_ip_address", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreatedTrafficEndpoint:
    """TS 29.244 7.5.3.5-1."""

    traffic_endpoint_id: int
    local_f_teid: FTeid | None = None
    ue_ip_address: UeIpAddress | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.CREATED_TRAFFIC_ENDPOINT, CreatedTrafficEndpoint, (
    F(T.TRAFFIC_ENDPOINT_ID, "traffic_endpoint_id", M),
    F(T.F_TEID, "local_f_teid", C),
    F(T.UE_IP_ADDRESS, "ue_ip_address", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoadControlInformation:
    """TS 29.244 7.5.3.3-1."""

    sequence_number: int
    metric: int
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.LOAD_CONTROL_INFORMATION, LoadControlInformation, (
    F(T.SEQUENCE_NUMBER, "sequence_number", M),
    F(T.METRIC, "metric", M),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class OverloadControlInformation:
    """TS 29.244 7.5.3.4-1."""

    sequence_number: int
    metric: int
    timer: Timer
    oci_flags: OciFlags | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.OVERLOAD_CONTROL_INFORMATION, OverloadControlInformation, (
    F(T.SEQUENCE_NUMBER, "sequence_number", M),
    F(T.METRIC, "metric", M),
    F(T.TIMER, "timer", M),
    F(T.OCI_FLAGS, "oci_flags", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ApplicationDetectionInformation:
    """TS 29.244 7.5.8.3-2."""

    application_id: str
    application_instance_id: bytes | None = None
    flow_information: FlowInformation | None = None
    pdr_id: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.APPLICATION_DETECTION_INFORMATION, ApplicationDetectionInformation, (
    F(T.APPLICATION_ID, "application_id", M),
    F(T.APPLICATION_INSTANCE_ID, "application_instance_id", C),
    F(T.FLOW_INFORMATION, "flow_information", C),
    F(T.PDR_ID, "pdr_id", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class EthernetTrafficInformation:
    """TS 29.244 7.5.8.3-3 (MAC address lists kept as octets)."""

    mac_addresses_detected: bytes | None = None
    mac_addresses_removed: bytes | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.ETHERNET_TRAFFIC_INFORMATION, EthernetTrafficInformation, (
    F(T.MAC_ADDRESSES_DETECTED, "mac_addresses_detected", C),
    F(T.MAC_ADDRESSES_REMOVED, "mac_addresses_removed", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The fields of the three Usage Report IEs (TS 29.244 7.5.5.2, 7.5.7.2, 7.5.8.3).

    Use the subclass for the message: :class:`UsageReportSmr` (Session Modification Response),
    :class:`UsageReportSdr` (Session Deletion Response), :class:`UsageReportSrr` (Session Report
    Request). Fields a given IE does not carry stay None.
    """

    urr_id: int
    ur_seqn: int
    usage_report_trigger: UsageReportTrigger
    start_time: int | None = None
    end_time: int | None = None
    volume_measurement: VolumeMeasurement | None = None
    duration_measurement: int | None = None
    application_detection_information: ApplicationDetectionInformation | None = None
    ue_ip_address: UeIpAddress | None = None
    network_instance: NetworkInstance | None = None
    time_of_first_packet: int | None = None
    time_of_last_packet: int | None = None
    usage_information: UsageInformation | None = None
    query_urr_reference: int | None = None
    event_time_stamp: tuple[int, ...] = ()
    ethernet_traffic_information: EthernetTrafficInformation | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UsageReportSmr(UsageReport):
    """Usage Report IE within Session Modification Response, TS 29.244 7.5.5.2-1."""


@dataclass(frozen=True, slots=True)
class UsageReportSdr(UsageReport):
    """Usage Report IE within Session Deletion Response, TS 29.244 7.5.7.2-1."""


@dataclass(frozen=True, slots=True)
class UsageReportSrr(UsageReport):
    """Usage Report IE within Session Report Request, TS 29.244 7.5.8.3-1."""


_UR_HEAD = (
    F(T.URR_ID, "urr_id", M),
    F(T.UR_SEQN, "ur_seqn", M),
    F(T.USAGE_REPORT_TRIGGER, "usage_report_trigger", M),
    F(T.START_TIME, "start_time", C),
    F(T.END_TIME, "end_time", C),
    F(T.VOLUME_MEASUREMENT, "volume_measurement", C),
    F(T.DURATION_MEASUREMENT, "duration_measurement", C),
)
_UR_TAIL = (
    F(T.TIME_OF_FIRST_PACKET, "time_of_first_packet", C),
    F(T.TIME_OF_LAST_PACKET, "time_of_last_packet", C),
    F(T.USAGE_INFORMATION, "usage_information", C),
)
_UR_EVENTS = (
    F(T.EVENT_TIME_STAMP, "event_time_stamp", C, True),
    F(T.ETHERNET_TRAFFIC_INFORMATION, "ethernet_traffic_information", C),
)
_QUERY_REF = (F(T.QUERY_URR_REFERENCE, "query_urr_reference", C),)

grouped(
    T.USAGE_REPORT_SESSION_MODIFICATION_RESPONSE, UsageReportSmr, _UR_HEAD + _UR_TAIL + _QUERY_REF + _UR_EVENTS
)
grouped(T.USAGE_REPORT_SESSION_DELETION_RESPONSE, UsageReportSdr, _UR_HEAD + _UR_TAIL + _UR_EVENTS)
grouped(
    T.USAGE_REPORT_SESSION_REPORT_REQUEST,
    UsageReportSrr,
    (
        *_UR_HEAD,
        F(T.APPLICATION_DETECTION_INFORMATION, "application_detection_information", C),
        F(T.UE_IP_ADDRESS, "ue_ip_address", C),
        F(T.NETWORK_INSTANCE, "network_instance", C),
        *_UR_TAIL,
        *_QUERY_REF,
        *_UR_EVENTS,
    ),
)


@dataclass(frozen=True, slots=True)
class DownlinkDataReport:
    """TS 29.244 7.5.8.2-1."""

    pdr_id: tuple[int, ...]
    downlink_data_service_information: tuple[DownlinkDataServiceInformation, ...] = ()
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.DOWNLINK_DATA_REPORT, DownlinkDataReport, (
    F(T.PDR_ID, "pdr_id", M, True),
    F(T.DOWNLINK_DATA_SERVICE_INFORMATION, "downlink_data_service_information", C, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ErrorIndicationReport:
    """TS 29.244 7.5.8.4-1."""

    remote_f_teid: tuple[FTeid, ...]
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.ERROR_INDICATION_REPORT, ErrorIndicationReport, (F(T.F_TEID, "remote_f_teid", M, True),))


@dataclass(frozen=True, slots=True)
class UserPlanePathFailureReport:
    """TS 29.244 7.4.5.1.2-1."""

    remote_gtp_u_peer: tuple[RemoteGtpUPeer, ...]
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UserPlanePathRecoveryReport:
    """TS 29.244 7.4.5.1.3-1."""

    remote_gtp_u_peer: tuple[RemoteGtpUPeer, ...]
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(
    T.USER_PLANE_PATH_FAILURE_REPORT,
    UserPlanePathFailureReport,
    (F(T.REMOTE_GTP_U_PEER, "remote_gtp_u_peer", M, True),),
)
grouped(
    T.USER_PLANE_PATH_RECOVERY_REPORT,
    UserPlanePathRecoveryReport,
    (F(T.REMOTE_GTP_U_PEER, "remote_gtp_u_peer", M, True),),
)


@dataclass(frozen=True, slots=True)
class PfdContext:
    """TS 29.244 7.4.3.1-3."""

    pfd_contents: tuple[PfdContents, ...]
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.PFD_CONTEXT, PfdContext, (F(T.PFD_CONTENTS, "pfd_contents", M, True),))


@dataclass(frozen=True, slots=True)
class ApplicationIdsPfds:
    """Application ID's PFDs, TS 29.244 7.4.3.1-2."""

    application_id: str
    pfd_context: tuple[PfdContext, ...] = ()
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.APPLICATION_IDS_PFDS, ApplicationIdsPfds, (
    F(T.APPLICATION_ID, "application_id", M),
    F(T.PFD_CONTEXT, "pfd_context", C, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class PfcpSessionRetentionInformation:
    """TS 29.244 7.4.4.1-2 (CP PFCP Entity IP Address IEs kept as octets)."""

    cp_pfcp_entity_ip_address: tuple[bytes, ...] = ()
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


grouped(T.PFCP_SESSION_RETENTION_INFORMATION, PfcpSessionRetentionInformation, (
    F(T.CP_PFCP_ENTITY_IP_ADDRESS, "cp_pfcp_entity_ip_address", O, True),
))  # fmt: skip
