"""The coordinator side: sampling, screening, aggregation, optimizers, the round engine."""
