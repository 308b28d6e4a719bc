"""PFCP messages (TS 29.244 clause 7): one frozen dataclass and one IE table per message.

Every message has the header fields ``sequence``, ``seid`` (None for node messages; a session
message without one is sent with SEID 0) and ``priority`` (None unless MP is set), plus
``extra_ies``: IEs the table does not describe, kept so that re-encoding is byte-identical.
The message type is the ClassVar ``message_type``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

from pfcp.enums import (
    AssociationReleaseRequestFlags,
    Cause,
    CpFeatures,
    IEType,
    MessageType,
    NodeReportType,
    PdnType,
    PfcpasRspFlags,
    PfcpauReqFlags,
    PfcpseReqFlags,
    PfcpsmReqFlags,
    PfcpsrReqFlags,
    PfcpsrRspFlags,
    ReportType,
    UpFeatures,
)
from pfcp.ies.address import FqCsid, FSeid, FTeid, NodeId, UserPlaneIpResourceInformation
from pfcp.ies.base import C, Field, IeOrder, M, O, RawIe, Spec, bind, conditional_missing
from pfcp.ies.grouped import (
    CreateBar,
    CreateFar,
    CreatePdr,
    CreateQer,
    CreateTrafficEndpoint,
    CreateUrr,
    QueryUrr,
    RemoveBar,
    RemoveFar,
    RemovePdr,
    RemoveQer,
    RemoveTrafficEndpoint,
    RemoveUrr,
    UpdateBar,
    UpdateBarReportResponse,
    UpdateFar,
    UpdatePdr,
    UpdateQer,
    UpdateTrafficEndpoint,
    UpdateUrr,
)
from pfcp.ies.reports import (
    ApplicationIdsPfds,
    CreatedPdr,
    CreatedTrafficEndpoint,
    DownlinkDataReport,
    ErrorIndicationReport,
    LoadControlInformation,
    OverloadControlInformation,
    PfcpSessionRetentionInformation,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportSrr,
    UserPlanePathFailureReport,
    UserPlanePathRecoveryReport,
)
from pfcp.ies.simple import AdditionalUsageReportsInformation, ApnDnn, FailedRuleId, Timer

T = IEType
F = Field


class Message:
    """Base of all messages. Subclasses are frozen slotted dataclasses."""

    __slots__ = ()
    message_type: ClassVar[MessageType]
    is_session: ClassVar[bool] = False
    _spec: ClassVar[Spec]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    sequence: int
    seid: int | None
    priority: int | None
    extra_ies: tuple[RawIe, ...]
    _ie_order: IeOrder


class SessionMessage(Message):
    """Base of the messages sent with an SEID in the header (message types 50-57)."""

    __slots__ = ()
    is_session: ClassVar[bool] = True


MESSAGE_CLASSES: dict[int, type[Message]] = {}


def _bind(cls: type[Message], fields: tuple[Field, ...], *checks: object) -> None:
    spec = bind(cls, fields, checks)  # type: ignore[arg-type]
    names = [f.name for f in dataclasses.fields(cls)]
    if names[0] != "sequence" or names[-4:] != ["seid", "priority", "extra_ies", "_ie_order"]:
        raise RuntimeError(f"{cls.__name__}: header fields out of place")  # codec.py relies on it
    assert spec.cls is cls
    MESSAGE_CLASSES[cls.message_type] = cls


# --- Node related messages (TS 29.244 7.4) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeartbeatRequest(Message):
    """TS 29.244 7.4.2.1."""

    message_type: ClassVar[MessageType] = MessageType.HEARTBEAT_REQUEST
    sequence: int
    recovery_time_stamp: int
    source_ip_address: bytes | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(HeartbeatRequest, (
    F(T.RECOVERY_TIME_STAMP, "recovery_time_stamp", M),
    F(T.SOURCE_IP_ADDRESS, "source_ip_address", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class HeartbeatResponse(Message):
    """TS 29.244 7.4.2.2."""

    message_type: ClassVar[MessageType] = MessageType.HEARTBEAT_RESPONSE
    sequence: int
    recovery_time_stamp: int
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(HeartbeatResponse, (F(T.RECOVERY_TIME_STAMP, "recovery_time_stamp", M),))


@dataclass(frozen=True, slots=True)
class PfdManagementRequest(Message):
    """TS 29.244 7.4.3.1."""

    message_type: ClassVar[MessageType] = MessageType.PFD_MANAGEMENT_REQUEST
    sequence: int
    application_ids_pfds: tuple[ApplicationIdsPfds, ...] = ()
    node_id: NodeId | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(PfdManagementRequest, (
    F(T.APPLICATION_IDS_PFDS, "application_ids_pfds", C, True),
    F(T.NODE_ID, "node_id", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class PfdManagementResponse(Message):
    """TS 29.244 7.4.3.2."""

    message_type: ClassVar[MessageType] = MessageType.PFD_MANAGEMENT_RESPONSE
    sequence: int
    cause: Cause
    offending_ie: IEType | None = None
    node_id: NodeId | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(PfdManagementResponse, (
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
    F(T.NODE_ID, "node_id", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssociationSetupRequest(Message):
    """TS 29.244 7.4.4.1."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_SETUP_REQUEST
    sequence: int
    node_id: NodeId
    recovery_time_stamp: int
    up_function_features: UpFeatures | None = None
    cp_function_features: CpFeatures | None = None
    user_plane_ip_resource_information: tuple[UserPlaneIpResourceInformation, ...] = ()
    alternative_smf_ip_address: tuple[bytes, ...] = ()
    smf_set_id: bytes | None = None
    pfcp_session_retention_information: PfcpSessionRetentionInformation | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationSetupRequest, (
    F(T.NODE_ID, "node_id", M),
    F(T.RECOVERY_TIME_STAMP, "recovery_time_stamp", M),
    F(T.UP_FUNCTION_FEATURES, "up_function_features", C),
    F(T.CP_FUNCTION_FEATURES, "cp_function_features", C),
    F(T.USER_PLANE_IP_RESOURCE_INFORMATION, "user_plane_ip_resource_information", O, True),
    F(T.ALTERNATIVE_SMF_IP_ADDRESS, "alternative_smf_ip_address", O, True),
    F(T.SMF_SET_ID, "smf_set_id", O),
    F(T.PFCP_SESSION_RETENTION_INFORMATION, "pfcp_session_retention_information", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssociationSetupResponse(Message):
    """TS 29.244 7.4.4.2."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_SETUP_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    recovery_time_stamp: int
    up_function_features: UpFeatures | None = None
    cp_function_features: CpFeatures | None = None
    user_plane_ip_resource_information: tuple[UserPlaneIpResourceInformation, ...] = ()
    alternative_smf_ip_address: tuple[bytes, ...] = ()
    smf_set_id: bytes | None = None
    pfcpasrsp_flags: PfcpasRspFlags | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationSetupResponse, (
    F(T.NODE_ID, "node_id", M),
    F(T.CAUSE, "cause", M),
    F(T.RECOVERY_TIME_STAMP, "recovery_time_stamp", M),
    F(T.UP_FUNCTION_FEATURES, "up_function_features", C),
    F(T.CP_FUNCTION_FEATURES, "cp_function_features", C),
    F(T.USER_PLANE_IP_RESOURCE_INFORMATION, "user_plane_ip_resource_information", O, True),
    F(T.ALTERNATIVE_SMF_IP_ADDRESS, "alternative_smf_ip_address", O, True),
    F(T.SMF_SET_ID, "smf_set_id", O),
    F(T.PFCPASRSP_FLAGS, "pfcpasrsp_flags", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssociationUpdateRequest(Message):
    """TS 29.244 7.4.4.3."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_UPDATE_REQUEST
    sequence: int
    node_id: NodeId
    up_function_features: UpFeatures | None = None
    cp_function_features: CpFeatures | None = None
    pfcp_association_release_request: AssociationReleaseRequestFlags | None = None
    graceful_release_period: Timer | None = None
    user_plane_ip_resource_information: tuple[UserPlaneIpResourceInformation, ...] = ()
    pfcpaureq_flags: PfcpauReqFlags | None = None
    alternative_smf_ip_address: tuple[bytes, ...] = ()
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationUpdateRequest, (
    F(T.NODE_ID, "node_id", M),
    F(T.UP_FUNCTION_FEATURES, "up_function_features", O),
    F(T.CP_FUNCTION_FEATURES, "cp_function_features", O),
    F(T.PFCP_ASSOCIATION_RELEASE_REQUEST, "pfcp_association_release_request", C),
    F(T.GRACEFUL_RELEASE_PERIOD, "graceful_release_period", C),
    F(T.USER_PLANE_IP_RESOURCE_INFORMATION, "user_plane_ip_resource_information", O, True),
    F(T.PFCPAUREQ_FLAGS, "pfcpaureq_flags", O),
    F(T.ALTERNATIVE_SMF_IP_ADDRESS, "alternative_smf_ip_address", O, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssociationUpdateResponse(Message):
    """TS 29.244 7.4.4.4."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_UPDATE_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    up_function_features: UpFeatures | None = None
    cp_function_features: CpFeatures | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationUpdateResponse, (
    F(T.NODE_ID, "node_id", M),
    F(T.CAUSE, "cause", M),
    F(T.UP_FUNCTION_FEATURES, "up_function_features", O),
    F(T.CP_FUNCTION_FEATURES, "cp_function_features", O),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssociationReleaseRequest(Message):
    """TS 29.244 7.4.4.5."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_RELEASE_REQUEST
    sequence: int
    node_id: NodeId
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationReleaseRequest, (F(T.NODE_ID, "node_id", M),))


@dataclass(frozen=True, slots=True)
class AssociationReleaseResponse(Message):
    """TS 29.244 7.4.4.6."""

    message_type: ClassVar[MessageType] = MessageType.ASSOCIATION_RELEASE_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(AssociationReleaseResponse, (F(T.NODE_ID, "node_id", M), F(T.CAUSE, "cause", M)))


@dataclass(frozen=True, slots=True)
class VersionNotSupportedResponse(Message):
    """TS 29.244 7.4.4.7: header only."""

    message_type: ClassVar[MessageType] = MessageType.VERSION_NOT_SUPPORTED_RESPONSE
    sequence: int
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(VersionNotSupportedResponse, ())


def _check_node_report(m: NodeReportRequest) -> None:
    if m.node_report_type & NodeReportType.UPFR and m.user_plane_path_failure_report is None:
        raise conditional_missing(T.USER_PLANE_PATH_FAILURE_REPORT, "Node Report Type UPFR")
    if m.node_report_type & NodeReportType.UPRR and m.user_plane_path_recovery_report is None:
        raise conditional_missing(T.USER_PLANE_PATH_RECOVERY_REPORT, "Node Report Type UPRR")


@dataclass(frozen=True, slots=True)
class NodeReportRequest(Message):
    """TS 29.244 7.4.5.1."""

    message_type: ClassVar[MessageType] = MessageType.NODE_REPORT_REQUEST
    sequence: int
    node_id: NodeId
    node_report_type: NodeReportType
    user_plane_path_failure_report: UserPlanePathFailureReport | None = None
    user_plane_path_recovery_report: UserPlanePathRecoveryReport | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(NodeReportRequest, (
    F(T.NODE_ID, "node_id", M),
    F(T.NODE_REPORT_TYPE, "node_report_type", M),
    F(T.USER_PLANE_PATH_FAILURE_REPORT, "user_plane_path_failure_report", C),
    F(T.USER_PLANE_PATH_RECOVERY_REPORT, "user_plane_path_recovery_report", C),
), _check_node_report)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NodeReportResponse(Message):
    """TS 29.244 7.4.5.2."""

    message_type: ClassVar[MessageType] = MessageType.NODE_REPORT_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    offending_ie: IEType | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_NODE_CAUSE_ROWS = (
    F(T.NODE_ID, "node_id", M),
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
)
_bind(NodeReportResponse, _NODE_CAUSE_ROWS)


@dataclass(frozen=True, slots=True)
class SessionSetDeletionRequest(Message):
    """TS 29.244 7.4.6.1. The FQ-CSIDs of all node kinds share one IE type: kept in order."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_SET_DELETION_REQUEST
    sequence: int
    node_id: NodeId
    fq_csid: tuple[FqCsid, ...] = ()
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionSetDeletionRequest, (F(T.NODE_ID, "node_id", M), F(T.FQ_CSID, "fq_csid", C, True)))


@dataclass(frozen=True, slots=True)
class SessionSetDeletionResponse(Message):
    """TS 29.244 7.4.6.2."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_SET_DELETION_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    offending_ie: IEType | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionSetDeletionResponse, _NODE_CAUSE_ROWS)


# --- Session related messages (TS 29.244 7.5) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEstablishmentRequest(SessionMessage):
    """TS 29.244 7.5.2.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_ESTABLISHMENT_REQUEST
    sequence: int
    node_id: NodeId
    cp_f_seid: FSeid
    create_pdr: tuple[CreatePdr, ...]
    create_far: tuple[CreateFar, ...]
    create_urr: tuple[CreateUrr, ...] = ()
    create_qer: tuple[CreateQer, ...] = ()
    create_bar: CreateBar | None = None
    create_traffic_endpoint: tuple[CreateTrafficEndpoint, ...] = ()
    pdn_type: PdnType | None = None
    fq_csid: tuple[FqCsid, ...] = ()
    user_plane_inactivity_timer: int | None = None
    user_id: bytes | None = None
    trace_information: bytes | None = None
    apn_dnn: ApnDnn | None = None
    pfcpsereq_flags: PfcpseReqFlags | None = None
    recovery_time_stamp: int | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionEstablishmentRequest, (
    F(T.NODE_ID, "node_id", M),
    F(T.F_SEID, "cp_f_seid", M),
    F(T.CREATE_PDR, "create_pdr", M, True),
    F(T.CREATE_FAR, "create_far", M, True),
    F(T.CREATE_URR, "create_urr", C, True),
    F(T.CREATE_QER, "create_qer", C, True),
    F(T.CREATE_BAR, "create_bar", O),
    F(T.CREATE_TRAFFIC_ENDPOINT, "create_traffic_endpoint", C, True),
    F(T.PDN_TYPE, "pdn_type", C),
    F(T.FQ_CSID, "fq_csid", C, True),
    F(T.USER_PLANE_INACTIVITY_TIMER, "user_plane_inactivity_timer", O),
    F(T.USER_ID, "user_id", O),
    F(T.TRACE_INFORMATION, "trace_information", O),
    F(T.APN_DNN, "apn_dnn", O),
    F(T.PFCPSEREQ_FLAGS, "pfcpsereq_flags", C),
    F(T.RECOVERY_TIME_STAMP, "recovery_time_stamp", O),
))  # fmt: skip


def _check_establishment_response(m: SessionEstablishmentResponse) -> None:
    if m.cause == Cause.REQUEST_ACCEPTED and m.up_f_seid is None:
        raise conditional_missing(T.F_SEID, "UP F-SEID is required when the request is accepted")


@dataclass(frozen=True, slots=True)
class SessionEstablishmentResponse(SessionMessage):
    """TS 29.244 7.5.3.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_ESTABLISHMENT_RESPONSE
    sequence: int
    node_id: NodeId
    cause: Cause
    offending_ie: IEType | None = None
    up_f_seid: FSeid | None = None
    created_pdr: tuple[CreatedPdr, ...] = ()
    load_control_information: LoadControlInformation | None = None
    overload_control_information: OverloadControlInformation | None = None
    fq_csid: tuple[FqCsid, ...] = ()
    failed_rule_id: FailedRuleId | None = None
    created_traffic_endpoint: tuple[CreatedTrafficEndpoint, ...] = ()
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionEstablishmentResponse, (
    F(T.NODE_ID, "node_id", M),
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
    F(T.F_SEID, "up_f_seid", C),
    F(T.CREATED_PDR, "created_pdr", C, True),
    F(T.LOAD_CONTROL_INFORMATION, "load_control_information", O),
    F(T.OVERLOAD_CONTROL_INFORMATION, "overload_control_information", O),
    F(T.FQ_CSID, "fq_csid", C, True),
    F(T.FAILED_RULE_ID, "failed_rule_id", C),
    F(T.CREATED_TRAFFIC_ENDPOINT, "created_traffic_endpoint", C, True),
), _check_establishment_response)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionModificationRequest(SessionMessage):
    """TS 29.244 7.5.4.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_MODIFICATION_REQUEST
    sequence: int
    cp_f_seid: FSeid | None = None
    remove_pdr: tuple[RemovePdr, ...] = ()
    remove_far: tuple[RemoveFar, ...] = ()
    remove_urr: tuple[RemoveUrr, ...] = ()
    remove_qer: tuple[RemoveQer, ...] = ()
    remove_bar: RemoveBar | None = None
    remove_traffic_endpoint: tuple[RemoveTrafficEndpoint, ...] = ()
    create_pdr: tuple[CreatePdr, ...] = ()
    create_far: tuple[CreateFar, ...] = ()
    create_urr: tuple[CreateUrr, ...] = ()
    create_qer: tuple[CreateQer, ...] = ()
    create_bar: CreateBar | None = None
    create_traffic_endpoint: tuple[CreateTrafficEndpoint, ...] = ()
    update_pdr: tuple[UpdatePdr, ...] = ()
    update_far: tuple[UpdateFar, ...] = ()
    update_urr: tuple[UpdateUrr, ...] = ()
    update_qer: tuple[UpdateQer, ...] = ()
    update_bar: UpdateBar | None = None
    update_traffic_endpoint: tuple[UpdateTrafficEndpoint, ...] = ()
    pfcpsmreq_flags: PfcpsmReqFlags | None = None
    query_urr: tuple[QueryUrr, ...] = ()
    fq_csid: tuple[FqCsid, ...] = ()
    user_plane_inactivity_timer: int | None = None
    query_urr_reference: int | None = None
    trace_information: bytes | None = None
    node_id: NodeId | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionModificationRequest, (
    F(T.F_SEID, "cp_f_seid", C),
    F(T.REMOVE_PDR, "remove_pdr", C, True),
    F(T.REMOVE_FAR, "remove_far", C, True),
    F(T.REMOVE_URR, "remove_urr", C, True),
    F(T.REMOVE_QER, "remove_qer", C, True),
    F(T.REMOVE_BAR, "remove_bar", C),
    F(T.REMOVE_TRAFFIC_ENDPOINT, "remove_traffic_endpoint", C, True),
    F(T.CREATE_PDR, "create_pdr", C, True),
    F(T.CREATE_FAR, "create_far", C, True),
    F(T.CREATE_URR, "create_urr", C, True),
    F(T.CREATE_QER, "create_qer", C, True),
    F(T.CREATE_BAR, "create_bar", C),
    F(T.CREATE_TRAFFIC_ENDPOINT, "create_traffic_endpoint", C, True),
    F(T.UPDATE_PDR, "update_pdr", C, True),
    F(T.UPDATE_FAR, "update_far", C, True),
    F(T.UPDATE_URR, "update_urr", C, True),
    F(T.UPDATE_QER, "update_qer", C, True),
    F(T.UPDATE_BAR_SESSION_MODIFICATION_REQUEST, "update_bar", C),
    F(T.UPDATE_TRAFFIC_ENDPOINT, "update_traffic_endpoint", C, True),
    F(T.PFCPSMREQ_FLAGS, "pfcpsmreq_flags", C),
    F(T.QUERY_URR, "query_urr", C, True),
    F(T.FQ_CSID, "fq_csid", C, True),
    F(T.USER_PLANE_INACTIVITY_TIMER, "user_plane_inactivity_timer", C),
    F(T.QUERY_URR_REFERENCE, "query_urr_reference", O),
    F(T.TRACE_INFORMATION, "trace_information", C),
    F(T.NODE_ID, "node_id", C),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionModificationResponse(SessionMessage):
    """TS 29.244 7.5.5.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_MODIFICATION_RESPONSE
    sequence: int
    cause: Cause
    offending_ie: IEType | None = None
    created_pdr: tuple[CreatedPdr, ...] = ()
    load_control_information: LoadControlInformation | None = None
    overload_control_information: OverloadControlInformation | None = None
    usage_report: tuple[UsageReportSmr, ...] = ()
    failed_rule_id: FailedRuleId | None = None
    additional_usage_reports_information: AdditionalUsageReportsInformation | None = None
    created_traffic_endpoint: tuple[CreatedTrafficEndpoint, ...] = ()
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionModificationResponse, (
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
    F(T.CREATED_PDR, "created_pdr", C, True),
    F(T.LOAD_CONTROL_INFORMATION, "load_control_information", O),
    F(T.OVERLOAD_CONTROL_INFORMATION, "overload_control_information", O),
    F(T.USAGE_REPORT_SESSION_MODIFICATION_RESPONSE, "usage_report", C, True),
    F(T.FAILED_RULE_ID, "failed_rule_id", C),
    F(T.ADDITIONAL_USAGE_REPORTS_INFORMATION, "additional_usage_reports_information", C),
    F(T.CREATED_TRAFFIC_ENDPOINT, "created_traffic_endpoint", C, True),
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionDeletionRequest(SessionMessage):
    """TS 29.244 7.5.6.1: header only (Rel-16)."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_DELETION_REQUEST
    sequence: int
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionDeletionRequest, ())


@dataclass(frozen=True, slots=True)
class SessionDeletionResponse(SessionMessage):
    """TS 29.244 7.5.7.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_DELETION_RESPONSE
    sequence: int
    cause: Cause
    offending_ie: IEType | None = None
    load_control_information: LoadControlInformation | None = None
    overload_control_information: OverloadControlInformation | None = None
    usage_report: tuple[UsageReportSdr, ...] = ()
    additional_usage_reports_information: AdditionalUsageReportsInformation | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionDeletionResponse, (
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
    F(T.LOAD_CONTROL_INFORMATION, "load_control_information", O),
    F(T.OVERLOAD_CONTROL_INFORMATION, "overload_control_information", O),
    F(T.USAGE_REPORT_SESSION_DELETION_RESPONSE, "usage_report", C, True),
    F(T.ADDITIONAL_USAGE_REPORTS_INFORMATION, "additional_usage_reports_information", C),
))  # fmt: skip


def _check_report_request(m: SessionReportRequest) -> None:
    rt = m.report_type
    if rt & ReportType.DLDR and m.downlink_data_report is None:
        raise conditional_missing(T.DOWNLINK_DATA_REPORT, "Report Type DLDR")
    if rt & ReportType.USAR and not m.usage_report:
        raise conditional_missing(T.USAGE_REPORT_SESSION_REPORT_REQUEST, "Report Type USAR")
    if rt & ReportType.ERIR and m.error_indication_report is None:
        raise conditional_missing(T.ERROR_INDICATION_REPORT, "Report Type ERIR")


@dataclass(frozen=True, slots=True)
class SessionReportRequest(SessionMessage):
    """TS 29.244 7.5.8.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_REPORT_REQUEST
    sequence: int
    report_type: ReportType
    downlink_data_report: DownlinkDataReport | None = None
    usage_report: tuple[UsageReportSrr, ...] = ()
    error_indication_report: ErrorIndicationReport | None = None
    load_control_information: LoadControlInformation | None = None
    overload_control_information: OverloadControlInformation | None = None
    additional_usage_reports_information: AdditionalUsageReportsInformation | None = None
    pfcpsrreq_flags: PfcpsrReqFlags | None = None
    old_cp_f_seid: FSeid | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionReportRequest, (
    F(T.REPORT_TYPE, "report_type", M),
    F(T.DOWNLINK_DATA_REPORT, "downlink_data_report", C),
    F(T.USAGE_REPORT_SESSION_REPORT_REQUEST, "usage_report", C, True),
    F(T.ERROR_INDICATION_REPORT, "error_indication_report", C),
    F(T.LOAD_CONTROL_INFORMATION, "load_control_information", O),
    F(T.OVERLOAD_CONTROL_INFORMATION, "overload_control_information", O),
    F(T.ADDITIONAL_USAGE_REPORTS_INFORMATION, "additional_usage_reports_information", C),
    F(T.PFCPSRREQ_FLAGS, "pfcpsrreq_flags", C),
    F(T.F_SEID, "old_cp_f_seid", C),
), _check_report_request)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionReportResponse(SessionMessage):
    """TS 29.244 7.5.9.1."""

    message_type: ClassVar[MessageType] = MessageType.SESSION_REPORT_RESPONSE
    sequence: int
    cause: Cause
    offending_ie: IEType | None = None
    update_bar: UpdateBarReportResponse | None = None
    pfcpsrrsp_flags: PfcpsrRspFlags | None = None
    cp_f_seid: FSeid | None = None
    n4_u_f_teid: FTeid | None = None
    alternative_smf_ip_address: bytes | None = None
    _: KW_ONLY
    seid: int | None = None
    priority: int | None = None
    extra_ies: tuple[RawIe, ...] = ()
    _ie_order: IeOrder = field(default=None, kw_only=True, repr=False, compare=False)


_bind(SessionReportResponse, (
    F(T.CAUSE, "cause", M),
    F(T.OFFENDING_IE, "offending_ie", C),
    F(T.UPDATE_BAR_SESSION_REPORT_RESPONSE, "update_bar", C),
    F(T.PFCPSRRSP_FLAGS, "pfcpsrrsp_flags", C),
    F(T.F_SEID, "cp_f_seid", O),
    F(T.F_TEID, "n4_u_f_teid", O),
    F(T.ALTERNATIVE_SMF_IP_ADDRESS, "alternative_smf_ip_address", O),
))  # fmt: skip
