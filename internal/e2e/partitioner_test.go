//go:build interop

package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/pipeline"
)

// TestEntityPartitionerMatchesLibrdkafka: keyed records produced by kcat
// (librdkafka) with its default partitioner and with murmur2_random land
// in the partitions ENTITY_PARTITIONER=crc32 and =murmur2 compute, so
// /v1/predict sends an entity to the member that holds its state.
func TestEntityPartitionerMatchesLibrdkafka(t *testing.T) {
	binaries(t)
	broker := devkafka(t, "crc:7,murmur:7")
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("cust-%d|{}", i*7919))
	}
	for _, tc := range []struct{ topic, librdkafka, ours string }{
		{"crc", "consistent_random", "crc32"},
		{"murmur", "murmur2_random", "murmur2"},
	} {
		cmd := exec.Command("kcat", "-P", "-b", broker, "-t", tc.topic, "-K", "|", "-X", "partitioner="+tc.librdkafka)
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, out)
		}
		out, err := exec.Command("kcat", "-C", "-b", broker, "-t", tc.topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%p\n").Output()
		if err != nil {
			t.Fatalf("kcat consume: %v", err)
		}
		part := pipeline.EntityPartitioner(tc.ours)
		n, used := 0, map[int32]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			key, p, _ := strings.Cut(line, "\t")
			got, _ := strconv.Atoi(p)
			if want := part([]byte(key), 7); int32(got) != want {
				t.Errorf("%s: key %s in partition %d, ENTITY_PARTITIONER=%s says %d", tc.librdkafka, key, got, tc.ours, want)
			}
			used[int32(got)] = true
			n++
		}
		if n != len(lines) || len(used) != 7 {
			t.Fatalf("%s: read %d of %d records over %d partitions", tc.topic, n, len(lines), len(used))
		}
	}
}
