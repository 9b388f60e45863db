package optimize

import (
	"math"
	"testing"
)

func TestCFSRunWaitsOutThePeriodWhenTheQuotaIsSpent(t *testing.T) {
	// 40 ms of CPU work at full speed, quota 28.9 ms per 100 ms period.
	one := []cpuStream{{0, 40, 40}}
	for _, tc := range []struct{ left, want float64 }{
		{90, 90 + 40 - 28.9}, // spends the quota, waits 61.1 ms, finishes in the next period
		{20, 40},             // the period ends before the quota is spent: fresh quota for the rest
	} {
		if _, w := cfsRun(28.9, tc.left, one, 40, 40); math.Abs(w-tc.want) > 1e-6 {
			t.Errorf("%.0f ms left in the period: wall %.3f ms, want %.3f", tc.left, w, tc.want)
		}
	}
	// Two streams side by side spend the quota twice as fast.
	two := []cpuStream{{0, 20, 20}, {0, 20, 20}}
	if a, w := cfsRun(28.9, 90, two, 20, 20); math.Abs(a-(90+20-14.45)) > 1e-6 || a != w {
		t.Errorf("two streams: answer at %.3f, end at %.3f; want both at %.3f", a, w, 90+20-14.45)
	}
	// Work that waits (no CPU) runs at full speed whatever the quota.
	if _, w := cfsRun(1, 90, []cpuStream{{0, 50, 0}}, 50, 50); w != 50 {
		t.Errorf("a wait: %.3f ms, want 50", w)
	}
}

func TestCFSTimesAreFullSpeedWithinTheQuotaAndLongerPastIt(t *testing.T) {
	streams := []cpuStream{{0, 22, 22}, {1, 22, 21}} // a sync path and async work beside it
	med, p95, fin := cfsTimes(0.579, streams, 22, 22)
	if med != 22 || p95 != 22 || fin != 22 {
		t.Errorf("43 ms of CPU within a 57.9 ms quota: %.1f / %.1f / %.1f ms, want 22 at full speed", med, p95, fin)
	}
	med, p95, fin = cfsTimes(0.289, streams, 22, 22)
	if med < 40 || p95 < 90 || fin < med {
		t.Errorf("43 ms of CPU past a 28.9 ms quota: median %.1f, p95 %.1f, mean end %.1f ms; want most requests to wait out a period", med, p95, fin)
	}
	// The fluid share would say 43 / 0.289 = 149 ms for the whole work on
	// average; the quota gives less to a burst that starts fresh.
	if fin > 149 {
		t.Errorf("mean end %.1f ms, longer than the fluid share's 149 ms", fin)
	}
}

func TestCFSOwnTimeInvertsTheQuota(t *testing.T) {
	for _, tc := range []struct{ vcpu, own, cpu float64 }{
		{0.289, 40, 40}, {0.145, 30, 25}, {0.579, 10, 8}, {0.0723, 60, 50},
	} {
		_, _, y := cfsTimes(tc.vcpu, []cpuStream{{0, tc.own, tc.cpu}}, tc.own, tc.own)
		if got := cfsOwnTime(tc.vcpu, tc.cpu, y); math.Abs(got-tc.own) > 0.01 {
			t.Errorf("vCPU %.3f, %.0f ms own, %.0f ms CPU: measured %.1f ms, inverted to %.3f ms", tc.vcpu, tc.own, tc.cpu, y, got)
		}
	}
}
