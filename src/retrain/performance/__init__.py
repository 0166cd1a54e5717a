"""Realised performance: the champion's metric on days it scored, once their labels have arrived."""

from retrain.performance.realised import RealisedMetric, realised_metric
from retrain.performance.trigger import should_trigger_on_performance

__all__ = ["RealisedMetric", "realised_metric", "should_trigger_on_performance"]
