package proxytest

import "go.uber.org/goleak"

// LeakOptions are the goleak options a package that runs proxy servers in its tests
// needs: they ignore the goroutines of gnet's process-wide worker pool (ants), which
// start once per process and keep idle workers for a while, and a connection's
// enrolment on a loop (proxy.Loop.Attach) that is ending in one of them after it
// handed its result over; they are not leaks. Use them in TestMain:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(m, proxytest.LeakOptions()...) }
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/gnet/v2.(*eventloop).enroll.func1"),
	}
}
