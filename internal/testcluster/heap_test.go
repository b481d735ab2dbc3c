package testcluster

import (
	"strings"
	"testing"
)

func TestParseHeapInfo(t *testing.T) {
	// JDK 17, -XX:+UseSerialGC, as a ZooKeeper server of the cluster prints it.
	serial := `12347:
 def new generation   total 19648K, used 13035K [0x00000000e0000000, 0x00000000e1550000, 0x00000000eaaa0000)
  eden space 17472K,  69% used [0x00000000e0000000, 0x00000000e0bdff50, 0x00000000e1110000)
  from space 2176K,  40% used [0x00000000e1330000, 0x00000000e140ade8, 0x00000000e1550000)
  to   space 2176K,   0% used [0x00000000e1110000, 0x00000000e1110000, 0x00000000e1330000)
 tenured generation   total 43712K, used 7463K [0x00000000eaaa0000, 0x00000000ed550000, 0x0000000100000000)
   the space 43712K,  17% used [0x00000000eaaa0000, 0x00000000eb1e9f40, 0x00000000eb1ea000, 0x00000000ed550000)
 Metaspace       used 14921K, committed 15168K, reserved 1114112K
  class space    used 1669K, committed 1792K, reserved 1048576K
`
	h, err := parseHeapInfo(serial)
	if err != nil {
		t.Fatal(err)
	}
	want := JVMHeap{Used: (13035 + 7463) << 10, Committed: (19648 + 43712) << 10, OldUsed: 7463 << 10, OldCommitted: 43712 << 10}
	if h != want {
		t.Errorf("parseHeapInfo = %+v, want %+v", h, want)
	}
	g1 := "1:\n garbage-first heap   total 1048576K, used 204800K [0x00000000c0000000, 0x0000000100000000)\n  region size 1024K, 3 young (3072K), 0 survivors (0K)\n Metaspace       used 1K, committed 2K, reserved 3K\n"
	if h, err := parseHeapInfo(g1); err != nil || h.Used != 204800<<10 || h.OldCommitted != 0 {
		t.Errorf("parseHeapInfo(G1) = %+v, %v", h, err)
	}
	if _, err := parseHeapInfo("1:\n Metaspace       used 1K, committed 2K, reserved 3K\n"); err == nil {
		t.Error("parseHeapInfo accepted output without heap figures")
	}
	if n, err := maxHeapSize("1:\n-XX:CICompilerCount=2 -XX:InitialHeapSize=67108864 -XX:MaxHeapSize=536870912 -XX:+UseSerialGC\n"); err != nil || n != 512<<20 {
		t.Errorf("maxHeapSize = %d, %v", n, err)
	}
	if _, err := maxHeapSize("1:\n-XX:+UseSerialGC\n"); err == nil || !strings.Contains(err.Error(), "no MaxHeapSize") {
		t.Errorf("maxHeapSize without the flag: %v", err)
	}
}
