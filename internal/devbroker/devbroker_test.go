package devbroker

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseTopics(t *testing.T) {
	got, err := ParseTopics("transactions:6, activity,predictions-dlq:1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Topic{{"transactions", 6}, {"activity", 1}, {"predictions-dlq", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"x:0", "x:many", ":3"} {
		if _, err := ParseTopics(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStartSeedsTopics(t *testing.T) {
	c, addrs, err := Start(Options{Port: 0, Brokers: 2, Topics: DefaultTopics})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("addrs = %v", addrs)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range DefaultTopics {
		if d, ok := td[want.Name]; !ok || int32(len(d.Partitions)) != want.Partitions {
			t.Errorf("topic %s: %+v", want.Name, d)
		}
	}
}
