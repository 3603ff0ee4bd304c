//! The demo's producer (`make demo` runs it as a pod beside the consumers): a steady stream of orders with a burst
//! now and then, and now and then a "poison" order that the consumers cannot process and dead-letter.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[derive(Parser, Debug)]
#[command(about = "Produces a steady stream with bursts and the odd poison record")]
struct Args {
    /// Bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// Topic to produce to.
    #[arg(long, env = "TOPIC")]
    topic: String,
    /// Steady records per second.
    #[arg(long, env = "RATE", default_value_t = 20)]
    rate: u32,
    /// Records in each burst.
    #[arg(long, env = "BURST", default_value_t = 6000)]
    burst: u32,
    /// Seconds before the first burst.
    #[arg(long, env = "FIRST_BURST_SECONDS", default_value_t = 20)]
    first_burst_seconds: u64,
    /// Seconds between bursts.
    #[arg(long, env = "BURST_EVERY_SECONDS", default_value_t = 180)]
    burst_every_seconds: u64,
    /// Every this many seconds one record is poison (value `poison-…`); 0 for none.
    #[arg(long, env = "POISON_EVERY_SECONDS", default_value_t = 30)]
    poison_every_seconds: u64,
}

fn send(producer: &BaseProducer, topic: &str, key: &str, value: &str) {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    // A full queue: serve delivery reports and retry.
    while let Err((_, r)) = producer.send(record) {
        producer.poll(Duration::from_millis(50));
        record = r;
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("linger.ms", "20")
        .set("log_level", "3")
        .create()
        .context("creating the producer")?;
    let start = Instant::now();
    let mut next_burst = start + Duration::from_secs(args.first_burst_seconds);
    let mut next_poison = start + Duration::from_secs(args.poison_every_seconds.max(1));
    let tick = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let (mut n, mut last_report) = (0u64, Instant::now());
    loop {
        let now = Instant::now();
        if now >= next_burst {
            for _ in 0..args.burst {
                n += 1;
                send(&producer, &args.topic, &format!("customer-{}", n % 101), &format!("order-{n}"));
            }
            producer.flush(Duration::from_secs(30))?;
            eprintln!("burst of {} records produced ({n} in all)", args.burst);
            next_burst = now + Duration::from_secs(args.burst_every_seconds.max(1));
        }
        n += 1;
        if args.poison_every_seconds > 0 && now >= next_poison {
            send(&producer, &args.topic, "customer-0", &format!("poison-{n}"));
            eprintln!("poison record poison-{n} produced");
            next_poison = now + Duration::from_secs(args.poison_every_seconds);
        } else {
            send(&producer, &args.topic, &format!("customer-{}", n % 101), &format!("order-{n}"));
        }
        producer.poll(Duration::ZERO);
        if last_report.elapsed() >= Duration::from_secs(30) {
            eprintln!("{n} records produced");
            last_report = Instant::now();
        }
        std::thread::sleep(tick);
    }
}
