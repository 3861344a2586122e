package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
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
	tlsCert := fs.String("tls-cert", "", "serve TLS with this certificate (PEM; with --tls-key)")
	tlsKey := fs.String("tls-key", "", "private key of --tls-cert (PEM)")
	var users []string
	fs.Func("sasl", "require SASL and register user:password for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (repeatable)", func(s string) error {
		users = append(users, s)
		return nil
	})
	fs.SetOutput(io.Discard) // our own messages below
	fs.Usage = func() {}
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, `usage: devkafka [--port 9092] [--brokers 1] [--topics name:partitions,...] [--data-dir D] [--tls-cert C --tls-key K] [--sasl user:pass]

An in-memory Kafka-compatible broker (franz-go's kfake) for local work: brokers on 127.0.0.1 ports
P ... P+N-1; the first line on stdout is "listening: 127.0.0.1:P[,...]"; SIGINT or SIGTERM stops it.

flags:
`)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		printUsage(os.Stdout)
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		printUsage(os.Stderr)
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "devkafka: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	ts, err := devbroker.ParseTopics(*topics)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devkafka: --topics:", err)
		os.Exit(2)
	}
	o := devbroker.Options{Port: *port, Brokers: *brokers, Topics: ts, DataDir: *dataDir, Users: map[string]string{}}
	o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "devkafka: "+format+"\n", args...) }
	for _, u := range users {
		user, pass, err := devbroker.ParseUser(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devkafka: --sasl:", err)
			os.Exit(2)
		}
		o.Users[user] = pass
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(os.Stderr, "devkafka: --tls-cert and --tls-key go together")
		os.Exit(2)
	}
	if *tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devkafka: --tls-cert/--tls-key:", err)
			os.Exit(2)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	c, addrs, err := devbroker.Start(o)
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
