package fanout_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/proxy/proxytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}
