package api

import (
	"errors"
	"strings"
	"testing"
)

func TestIterationMissedNamesTheFigureOutsideTheConfidence(t *testing.T) {
	it := Iteration{Decision: DecisionKept, P50Ms: 100, P95Ms: 130, CostPerMillionUSD: 5,
		Predicted: &Prediction{P50Ms: 95, P95Ms: 60, CostPerMillionUSD: 5.1, Confidence: 0.2}}
	missed, why := it.Missed()
	if !missed || !strings.Contains(why, "p95 +117%") || strings.Contains(why, "p50") || strings.Contains(why, "cost") {
		t.Fatalf("Missed() = %v, %q; want only p95 named", missed, why)
	}
	it.Predicted.P95Ms = 120
	if missed, why := it.Missed(); missed {
		t.Fatalf("every figure within ±20%%, Missed() = true, %q", why)
	}
	it.Predicted = nil
	if missed, _ := it.Missed(); missed {
		t.Fatal("no prediction, yet Missed() = true")
	}
}

func TestIterationValidateRejectsABadPrediction(t *testing.T) {
	it := Iteration{Decision: DecisionKept, Predicted: &Prediction{P50Ms: -1}}
	err := it.Validate()
	if !errors.Is(err, ErrBadIteration) || !strings.Contains(err.Error(), "predicted.p50Ms") {
		t.Fatalf("Validate() = %v, want ErrBadIteration naming predicted.p50Ms", err)
	}
}
