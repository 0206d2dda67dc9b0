"""Privacy and evasion red team: gradient inversion, membership inference, adversarial examples.

Why a subpackage of its own: these attacks target the *confidentiality* and
*integrity at inference* of a site's patients, not the training process the
poisoning red team attacks, and the defenses they evaluate (DP, secure
aggregation, adversarial training) live elsewhere -- defense code never
imports this package. Attack math is pure (arrays in, arrays out); figures
are in :mod:`fedshield.redteam.privacy.plots`.
"""

from fedshield.redteam.privacy.adversarial import (
    IMAGE_EPSILONS,
    TABULAR_EPSILONS,
    accuracy,
    fgsm,
    pgd,
    robust_accuracy,
    robust_accuracy_curve,
    transfer_attack,
)
from fedshield.redteam.privacy.inversion import (
    DLG_CONFIG,
    DLG_LBFGS_CONFIG,
    INVERTING_GRADIENTS_CONFIG,
    InversionConfig,
    InversionResult,
    dlg,
    fedavg_update,
    inverting_gradients,
    invert_update,
    recover_labels,
    shared_gradient,
)
from fedshield.redteam.privacy.membership import (
    MIAResult,
    evaluate_mia,
    lira_offline_scores,
    loss_threshold_scores,
    per_example_loss,
    signed_logit,
    train_shadow_models,
    yeom_predict,
)
from fedshield.redteam.privacy.metrics import (
    ReconstructionScore,
    image_blind_label_accuracy,
    match_reconstructions,
    psnr,
    reidentified,
    reidentified_control,
    roc_auc,
    roc_curve,
    score_reconstruction,
    ssim,
    tpr_at_fpr,
    wilson_interval,
)

__all__ = [
    "IMAGE_EPSILONS", "TABULAR_EPSILONS", "accuracy", "fgsm", "pgd", "robust_accuracy",
    "robust_accuracy_curve", "transfer_attack",
    "DLG_CONFIG", "DLG_LBFGS_CONFIG", "INVERTING_GRADIENTS_CONFIG", "InversionConfig",
    "InversionResult", "dlg", "fedavg_update", "inverting_gradients", "invert_update",
    "recover_labels", "shared_gradient",
    "MIAResult", "evaluate_mia", "lira_offline_scores", "loss_threshold_scores",
    "per_example_loss", "signed_logit", "train_shadow_models", "yeom_predict",
    "ReconstructionScore", "match_reconstructions", "psnr", "roc_auc", "roc_curve",
    "score_reconstruction", "ssim", "tpr_at_fpr", "image_blind_label_accuracy", "reidentified",
    "reidentified_control", "wilson_interval",
]
