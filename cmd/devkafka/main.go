// Command devkafka runs an in-memory Kafka-compatible broker (franz-go's
// kfake) for local work and tests: brokers on 127.0.0.1 ports P … P+N−1,
// seeded topics, optional persistence. The first line on stdout is
// "listening: 127.0.0.1:P[,...]". SIGINT or SIGTERM stops it cleanly.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/streamscore/streamscore/internal/devbroker"
)

func main() {
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	port := fs.Int("port", 9092, "first broker port")
	brokers := fs.Int("brokers", 1, "number of brokers")
	topics := fs.String("topics", "transactions:6,activity:6,predictions:6,predictions-dlq:1", "topics to create, name:partitions,...")
	dataDir := fs.String("data-dir", "", "persist topics and offsets in this directory (default: memory only)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ts, err := devbroker.ParseTopics(*topics)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka: --topics:", err)
		os.Exit(2)
	}
	c, addrs, err := devbroker.Start(devbroker.Options{Port: *port, Brokers: *brokers, Topics: ts, DataDir: *dataDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
	fmt.Println("listening:", strings.Join(addrs, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}
