from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JoinReply(_message.Message):
    __slots__ = ("run_id", "scenario_sha256", "identity")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_SHA256_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    scenario_sha256: str
    identity: str
    def __init__(self, run_id: _Optional[str] = ..., scenario_sha256: _Optional[str] = ..., identity: _Optional[str] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("wait_s",)
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    wait_s: float
    def __init__(self, wait_s: _Optional[float] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("kind", "run_id", "round", "nonce", "model_sha256", "parameters", "config_json", "num_params")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        WAIT: _ClassVar[Task.Kind]
        FIT: _ClassVar[Task.Kind]
        EVALUATE: _ClassVar[Task.Kind]
        STOP: _ClassVar[Task.Kind]
        STAGE: _ClassVar[Task.Kind]
    WAIT: Task.Kind
    FIT: Task.Kind
    EVALUATE: Task.Kind
    STOP: Task.Kind
    STAGE: Task.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    kind: Task.Kind
    run_id: str
    round: int
    nonce: bytes
    model_sha256: str
    parameters: bytes
    config_json: str
    num_params: int
    def __init__(self, kind: _Optional[_Union[Task.Kind, str]] = ..., run_id: _Optional[str] = ..., round: _Optional[int] = ..., nonce: _Optional[bytes] = ..., model_sha256: _Optional[str] = ..., parameters: _Optional[bytes] = ..., config_json: _Optional[str] = ..., num_params: _Optional[int] = ...) -> None: ...

class UpdateHeader(_message.Message):
    __slots__ = ("run_id", "round", "model_sha256", "nonce", "update_sha256", "num_examples", "num_params", "metrics_json", "signature")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    NUM_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    round: int
    model_sha256: str
    nonce: bytes
    update_sha256: str
    num_examples: int
    num_params: int
    metrics_json: str
    signature: bytes
    def __init__(self, run_id: _Optional[str] = ..., round: _Optional[int] = ..., model_sha256: _Optional[str] = ..., nonce: _Optional[bytes] = ..., update_sha256: _Optional[str] = ..., num_examples: _Optional[int] = ..., num_params: _Optional[int] = ..., metrics_json: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class UpdateChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: UpdateHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[UpdateHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class EvalResult(_message.Message):
    __slots__ = ("run_id", "round", "model_sha256", "nonce", "num_examples", "metrics_json", "labels_npy", "scores_npy", "signature")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    NUM_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    LABELS_NPY_FIELD_NUMBER: _ClassVar[int]
    SCORES_NPY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    round: int
    model_sha256: str
    nonce: bytes
    num_examples: int
    metrics_json: str
    labels_npy: bytes
    scores_npy: bytes
    signature: bytes
    def __init__(self, run_id: _Optional[str] = ..., round: _Optional[int] = ..., model_sha256: _Optional[str] = ..., nonce: _Optional[bytes] = ..., num_examples: _Optional[int] = ..., metrics_json: _Optional[str] = ..., labels_npy: _Optional[bytes] = ..., scores_npy: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("accepted", "detail")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    detail: str
    def __init__(self, accepted: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("state", "round", "joined", "run_id", "model_sha256")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    state: str
    round: int
    joined: _containers.RepeatedScalarFieldContainer[str]
    run_id: str
    model_sha256: str
    def __init__(self, state: _Optional[str] = ..., round: _Optional[int] = ..., joined: _Optional[_Iterable[str]] = ..., run_id: _Optional[str] = ..., model_sha256: _Optional[str] = ...) -> None: ...
