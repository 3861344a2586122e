#!/usr/bin/python3
"""librdkafka (Debian python3-confluent-kafka) side of the interop tests.

  rdkafka.py produce BROKER TOPIC N [EXTRA [FROM]]
      writes events e{FROM}..e{FROM+N-1} (FROM default 0), keyed by event
      id; every 1000 events three are malformed: truncated JSON (decode),
      garbage bytes (decode) and a text amount (features). EXTRA (default 0)
      more malformed records (truncated JSON) follow, e{FROM+N} on. Prints
      the number written.
  rdkafka.py count BROKER N TIMEOUT_S
      reads predictions and predictions-dlq from the beginning with
      isolation.level=read_committed until every event e0..e{N-1} has an
      output or the timeout passes, then 2 s more for stragglers. Prints
      JSON: outputs, predictions, dead_letters, missing, duplicates.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING


def malformed(i):
    if i % 1000 == 999:
        return b'{"event_id":"e%d", broken' % i
    if i % 1000 == 749:
        return b"\xff\xfe\x00garbage"
    if i % 1000 == 499:
        return b'{"event_id":"e%d","customer_id":"c1","event_time":1795787100000,"amount":"lots"}' % i
    return None


def produce(broker, topic, n, extra=0, first=0):
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5, "enable.idempotence": True})
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(first, first + n + extra):
        value = malformed(i) if i < first + n else b'{"event_id":"e%d", trunc' % i
        if value is None:
            value = json.dumps({"event_id": "e%d" % i, "customer_id": "c%d" % (i % 97),
                                "event_time": 1795787100000 + i, "amount": i % 1000}).encode()
        while True:
            try:
                p.produce(topic, key=b"e%d" % i, value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    if p.flush(60) != 0 or errors:
        raise SystemExit("produce failed: %d unflushed, errors %s" % (len(p), errors[:3]))
    print(n + extra)


def count(broker, n, timeout):
    c = Consumer({"bootstrap.servers": broker, "group.id": "rdkafka-count", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "enable.partition.eof": False})
    parts = []
    for topic in ("predictions", "predictions-dlq"):
        md = c.list_topics(topic, timeout=10).topics[topic]
        if md.error is not None:
            raise SystemExit("topic %s: %s" % (topic, md.error))
        parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions]
    c.assign(parts)
    seen = {}
    outputs = preds = dead = 0
    deadline = time.time() + timeout
    straggle = None
    while True:
        now = time.time()
        if straggle is None and (len(seen) >= n or now > deadline):
            straggle = now + 2
        if straggle is not None and now > straggle:
            break
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            raise KafkaException(msg.error())
        outputs += 1
        if msg.topic() == "predictions":
            preds += 1
            eid = json.loads(msg.value())["event_id"]
        else:
            dead += 1
            eid = msg.key().decode()
        seen[eid] = seen.get(eid, 0) + 1
    c.close()
    missing = sum(1 for i in range(n) if ("e%d" % i) not in seen)
    print(json.dumps({"outputs": outputs, "predictions": preds, "dead_letters": dead,
                      "missing": missing, "duplicates": outputs - len(seen)}))


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0,
                int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    elif sys.argv[1] == "count":
        count(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
