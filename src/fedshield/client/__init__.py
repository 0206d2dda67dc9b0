"""The hospital side: local training and the update pipeline before transport."""

from fedshield.client.site import Site, UpdateTransform
from fedshield.client.trainer import TrainConfig, train_locally, predict_proba

__all__ = ["Site", "UpdateTransform", "TrainConfig", "train_locally", "predict_proba"]
