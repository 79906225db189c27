//go:build linux

package wgquick

import (
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestBlockMetricIsTheLibrarys: the kill switch's routes that Render
// writes and Parse recognizes are the library's own.
func TestBlockMetricIsTheLibrarys(t *testing.T) {
	if blockMetric != transparent.BlockMetric {
		t.Errorf("blockMetric = %d, the library's BlockMetric = %d", blockMetric, transparent.BlockMetric)
	}
}
