#!/usr/bin/env python3
"""Confluent's own Python client (confluent-kafka with its schemaregistry and avro extras) against the stack's
schema registry: what the Schema e2e tests read, change behind Tributary's back, and produce with.

Every command prints one JSON object on stdout. `produce` exits 0 when the record was serialized and delivered,
3 when the serializer refused (the schema is not registered), with the client's error in `error`.

  schema_client.py latest   --url U --subject S
  schema_client.py subjects --url U
  schema_client.py set-compatibility --url U --subject S --level L
  schema_client.py produce  --url U --bootstrap B --topic T --schema-file F --record JSON [--use-latest]
"""
import argparse
import faulthandler
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def out(obj, code=0):
    print(json.dumps(obj))
    sys.exit(code)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["latest", "subjects", "set-compatibility", "produce"])
    p.add_argument("--url", required=True)
    p.add_argument("--subject")
    p.add_argument("--level")
    p.add_argument("--bootstrap")
    p.add_argument("--topic")
    p.add_argument("--schema-file")
    p.add_argument("--record")
    p.add_argument("--use-latest", action="store_true")
    a = p.parse_args()
    # Never hang a test: a stuck call prints where it was and ends the client.
    faulthandler.dump_traceback_later(90, exit=True)
    client = SchemaRegistryClient({"url": a.url, "timeout": 20})

    if a.command == "subjects":
        out({"subjects": sorted(client.get_subjects())})
    if a.command == "latest":
        latest = client.get_latest_version(a.subject)
        out({
            "subject": latest.subject,
            "version": latest.version,
            "id": latest.schema_id,
            "schema": latest.schema.schema_str,
            "versions": client.get_versions(a.subject),
            "compatibility": client.get_compatibility(a.subject),
        })
    if a.command == "set-compatibility":
        out({"compatibility": client.set_compatibility(a.subject, a.level)})

    # produce: the Avro serializer with automatic registration off, so only a registered schema can be used.
    with open(a.schema_file) as f:
        schema_str = f.read()
    conf = {"auto.register.schemas": False, "use.latest.version": a.use_latest}
    serializer = AvroSerializer(client, schema_str, conf=conf)
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    try:
        value = serializer(json.loads(a.record), ctx)
    except Exception as e:  # the client's SerializationError / SchemaRegistryError, as the application sees them
        out({"produced": False, "error": f"{type(e).__name__}: {e}"}, 3)
    producer = Producer({"bootstrap.servers": a.bootstrap})
    delivered = []
    producer.produce(a.topic, value=value, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    if delivered != [None]:
        out({"produced": False, "error": f"delivery: {delivered}"}, 4)
    schema_id = int.from_bytes(value[1:5], "big")
    out({"produced": True, "schema_id": schema_id})


if __name__ == "__main__":
    main()
