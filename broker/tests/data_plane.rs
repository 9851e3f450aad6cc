//! Multi-process tests of the broker data plane: real controller and broker
//! processes, real segment files, SIGKILL and restart.

mod common;

use base64::Engine;
use common::{start, wait_for, Topics, FAST_BROKER, FAST_CONTROLLER};
use ferry_broker::produce::partitioner::partition_for_key;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_keyed_records_through_one_broker_should_land_where_kafka_puts_them_and_read_back_in_order(
) {
    let tc = start(3, 3, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("keyed", 6, 1, json!({})).await;
    let entry = tc.url("broker-1");
    let mut expected: Vec<Vec<(String, String)>> = vec![Vec::new(); 6];
    for chunk in 0..20 {
        let records: Vec<Value> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                json!({"key": format!("user-{}", n % 997), "value": format!("event-{n}")})
            })
            .collect();
        let (s, v) = tc
            .post(
                &format!("{entry}/v1/topics/keyed/records"),
                &json!({"records": records, "acks": "1"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        for (r, res) in records.iter().zip(v["offsets"].as_array().unwrap()) {
            let key = r["key"].as_str().unwrap();
            let p = res["partition"].as_u64().unwrap() as u32;
            assert_eq!(
                p,
                partition_for_key(key.as_bytes(), 6),
                "key {key} placed as Kafka would"
            );
            assert!(res["offset"].as_u64().is_some(), "{res}");
            expected[p as usize].push((key.to_string(), r["value"].as_str().unwrap().to_string()));
        }
    }
    let leaders = tc.leaders("keyed").await;
    let mut total = 0;
    for (p, leader) in leaders.iter().enumerate() {
        let got = tc.fetch_all(leader, "keyed", p as u32, 0).await;
        let got: Vec<(String, String)> = got
            .iter()
            .enumerate()
            .map(|(i, r)| {
                assert_eq!(r["offset"].as_u64().unwrap(), i as u64, "offsets are dense");
                (
                    r["key"].as_str().unwrap().to_string(),
                    r["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got, expected[p],
            "partition {p} holds exactly what was acknowledged, in order"
        );
        total += got.len();
    }
    assert_eq!(total, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_binary_values_should_round_trip_exactly() {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("bytes", 1, 1, json!({})).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let all: Vec<u8> = (0..=255u8).collect();
    let records = json!([
        {"key": null, "value_b64": b64.encode(&all)},
        {"key_b64": b64.encode([0u8, 255, 128]), "value": ""},
        {"value": {"nested": [1, "two", null]}, "headers": {"h1": "v1", "h2": null}},
        {"value": "plain text ✓", "headers": [{"key": "bin", "value_b64": b64.encode([0xffu8, 0x00])}]},
        {"value": null},
    ]);
    let url = format!(
        "{}/v1/topics/bytes/partitions/0/records",
        tc.url("broker-1")
    );
    let (s, v) = tc.post(&url, &json!({"records": records})).await;
    assert_eq!(s, 200, "{v}");
    let (_, f) = tc.get(&format!("{url}?offset=0")).await;
    let r = f["records"].as_array().unwrap();
    assert_eq!(r.len(), 5);
    assert_eq!(r[0]["key"], Value::Null);
    assert_eq!(
        b64.decode(r[0]["value_b64"].as_str().unwrap()).unwrap(),
        all,
        "all 256 byte values"
    );
    assert_eq!(
        b64.decode(r[1]["key_b64"].as_str().unwrap()).unwrap(),
        vec![0, 255, 128]
    );
    assert_eq!(r[1]["value"], "", "empty value is not null");
    assert_eq!(
        r[2]["value"], r#"{"nested":[1,"two",null]}"#,
        "JSON values are stored as compact text"
    );
    assert_eq!(r[2]["headers"]["h1"], "v1");
    assert_eq!(r[3]["value"], "plain text ✓");
    assert_eq!(
        b64.decode(r[3]["headers_b64"]["bin"].as_str().unwrap())
            .unwrap(),
        vec![0xff, 0]
    );
    assert_eq!(r[4]["value"], Value::Null, "null value (tombstone)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_repeated_header_names_and_control_bytes_should_round_trip_in_order_without_blowing_up(
) {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("hdrs", 1, 1, json!({})).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let controls = vec![1u8; 3000];
    let headers = json!([
        {"key": "trace", "value": "first"},
        {"key": "bin", "value_b64": b64.encode([0u8, 255])},
        {"key": "trace", "value": "second"},
    ]);
    let url = format!("{}/v1/topics/hdrs/partitions/0/records", tc.url("broker-1"));
    let records = json!([{"value_b64": b64.encode(&controls), "headers": headers}]);
    let (s, v) = tc.post(&url, &json!({ "records": records })).await;
    assert_eq!(s, 200, "{v}");
    let raw = tc
        .http()
        .get(format!("{url}?offset=0"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // 3,000 control bytes are valid UTF-8; as `\u0001` escapes they would
    // take 18,000 bytes of JSON, as base64 4,000.
    assert!(raw.len() < 5_000, "answer is {} bytes", raw.len());
    let f: Value = serde_json::from_slice(&raw).unwrap();
    let r = &f["records"][0];
    assert_eq!(
        b64.decode(r["value_b64"].as_str().unwrap()).unwrap(),
        controls
    );
    let list: Vec<(String, Value)> = r["header_list"]
        .as_array()
        .expect("a repeated name brings the ordered list")
        .iter()
        .map(|h| {
            let v = h.get("value_b64").cloned().unwrap_or(h["value"].clone());
            (h["key"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(
        list,
        vec![
            ("trace".to_string(), json!("first")),
            ("bin".to_string(), json!(b64.encode([0u8, 255]))),
            ("trace".to_string(), json!("second")),
        ]
    );
    assert_eq!(
        r["headers"]["trace"], "second",
        "the object keeps the last one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_broker_sigkilled_while_producing_should_keep_every_acknowledged_record_and_recover_torn_tails(
) {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("crash", 1, 1, json!({"segment.bytes": 4096}))
        .await;
    let url = format!(
        "{}/v1/topics/crash/partitions/0/records",
        tc.url("broker-1")
    );
    // Produce until the kill, remembering what was acknowledged. The kill
    // waits on the producer's own ack count, not the log end offset: the LEO
    // passes an offset before its ack reaches the producer.
    let acks = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let producer = {
        let (http, url) = (tc.http().clone(), url.clone());
        let (acks, killed) = (acks.clone(), killed.clone());
        tokio::spawn(async move {
            let mut acked: Vec<(u64, String)> = Vec::new();
            for n in 0..100_000 {
                let value = format!("rec-{n}");
                let body =
                    json!({"records": [{"key": format!("k{n}"), "value": value}], "acks": "1"});
                match http
                    .post(&url)
                    .json(&body)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        // The kill can cut the body after the status line:
                        // then the record was not acknowledged.
                        let offset = r
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|v| v["offsets"][0]["offset"].as_u64());
                        match offset {
                            Some(offset) => {
                                acked.push((offset, value));
                                acks.store(acked.len(), Ordering::Release);
                            }
                            None if killed.load(Ordering::Acquire) => break,
                            None => panic!("a 200 produce answer without an offset"),
                        }
                    }
                    // A slow answer before the kill (a loaded machine) is
                    // not the end of the run; any failure after it is.
                    _ if killed.load(Ordering::Acquire) => break,
                    _ => {}
                }
            }
            acked
        })
    };
    wait_for(Duration::from_secs(20), || async {
        (acks.load(Ordering::Acquire) > 300).then_some(())
    })
    .await
    .expect("producing");
    killed.store(true, Ordering::Release);
    tc.kill("broker-1");
    let acked = producer.await.unwrap();
    assert!(acked.len() > 300, "{} acknowledged", acked.len());
    tc.start("broker-1");
    tc.wait_ready("broker-1", Duration::from_secs(30)).await;
    let leader = tc.url("broker-1");
    let got = wait_for(Duration::from_secs(20), || async {
        let (s, _) = tc.get(&format!("{url}?offset=0&max_records=1")).await;
        (s == 200).then_some(())
    })
    .await;
    assert!(got.is_some(), "partition served again after restart");
    let records = tc.fetch_all(&leader, "crash", 0, 0).await;
    for (offset, value) in &acked {
        let r = &records[*offset as usize];
        assert_eq!(
            r["value"].as_str(),
            Some(value.as_str()),
            "acknowledged offset {offset} survived SIGKILL"
        );
    }

    // The SIGKILL may have landed between a segment roll and the first write
    // into the new segment, leaving the active segment empty: one more record
    // puts a batch at the end of the active segment for the tear below.
    let (s, v) = tc
        .post(
            &url,
            &json!({"records": [{"value": "before-tear"}], "acks": "1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let records = tc.fetch_all(&leader, "crash", 0, 0).await;

    // Tear the tail of the active segment while the broker is down.
    tc.stop("broker-1");
    let part_dir = tc.dir().join("broker-1/data/logs/crash-0");
    let mut logs: Vec<_> = std::fs::read_dir(&part_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let active = logs.last().unwrap().clone();
    let len = std::fs::metadata(&active).unwrap().len();
    let before_tear = records.len() as u64;
    // Cut the last batch in half, then flip a byte in what is now the last complete batch's payload.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let after = restart_and_read_leo(&tc, "crash").await;
    assert_eq!(
        after,
        before_tear - 1,
        "the torn last batch (one record) was dropped, nothing else"
    );
    let (s, v) = tc
        .post(
            &url,
            &json!({"records": [{"value": "after-recovery"}], "acks": "1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["offsets"][0]["offset"].as_u64(),
        Some(after),
        "appends continue at the recovered end"
    );

    // A flipped byte inside the last batch: recovery truncates to the batch before it.
    tc.stop("broker-1");
    let mut bytes = std::fs::read(&active).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&active, bytes).unwrap();
    let leo = restart_and_read_leo(&tc, "crash").await;
    assert_eq!(leo, after, "the corrupt batch was cut, the good ones kept");
}

/// Starts broker-1 again and answers partition 0's log end offset once it serves.
async fn restart_and_read_leo(tc: &common::TestCluster, topic: &str) -> u64 {
    tc.start("broker-1");
    tc.wait_ready("broker-1", Duration::from_secs(30)).await;
    let url = format!(
        "{}/v1/topics/{topic}/partitions/0/offsets",
        tc.url("broker-1")
    );
    wait_for(Duration::from_secs(20), || async {
        let (s, o) = tc.get(&url).await;
        (s == 200).then(|| o["log_end_offset"].as_u64()).flatten()
    })
    .await
    .expect("partition served after restart")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_retention_by_bytes_should_delete_old_segments_and_refuse_fetches_below_log_start() {
    let tc = start(
        1,
        1,
        FAST_CONTROLLER,
        &[
            ("heartbeat_interval_ms", "250"),
            ("retention_check_interval_ms", "200"),
        ],
    )
    .await;
    tc.create_topic(
        "short",
        1,
        1,
        json!({"segment.bytes": 2048, "retention.bytes": 8192}),
    )
    .await;
    let url = format!(
        "{}/v1/topics/short/partitions/0/records",
        tc.url("broker-1")
    );
    for n in 0..60 {
        let records: Vec<Value> = (0..10)
            .map(|i| json!({"value": format!("{n}-{i}-{}", "x".repeat(40))}))
            .collect();
        let (s, v) = tc
            .post(&url, &json!({"records": records, "acks": "1"}))
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let dir = tc.dir().join("broker-1/data/logs/short-0");
    let log_bytes = || -> u64 {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    // Retention runs every 200 ms; wait until it has brought the log under the limit
    // (plus the active segment, which is never deleted).
    let start = wait_for(Duration::from_secs(20), || async {
        let (_, o) = tc
            .get(&format!(
                "{}/v1/topics/short/partitions/0/offsets",
                tc.url("broker-1")
            ))
            .await;
        let ls = o["log_start_offset"].as_u64()?;
        (ls > 0 && log_bytes() <= 8192 + 2048).then_some(ls)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "retention advanced the log start and deleted old segments ({} bytes left)",
            log_bytes()
        )
    });
    let (s, v) = tc.get(&format!("{url}?offset=0")).await;
    assert_eq!(s, 416, "{v}");
    assert_eq!(v["error_code"], "OFFSET_OUT_OF_RANGE");
    assert_eq!(v["log_start_offset"].as_u64(), Some(start));
    assert!(v["high_watermark"].as_u64().is_some());
    let (s, v) = tc.get(&format!("{url}?offset={start}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"][0]["offset"].as_u64(), Some(start));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_just_created_topic_producing_through_any_broker_should_succeed_after_retries() {
    let tc = start(3, 3, FAST_CONTROLLER, FAST_BROKER).await;
    let body = json!({"name": "fresh", "partitions": 3, "replication_factor": 1});
    let (s, v) = tc
        .post(&format!("{}/v1/topics", tc.url("controller-1")), &body)
        .await;
    assert_eq!(s, 201, "{v}");
    let mut retries = 0;
    let ok = wait_for(Duration::from_secs(20), || {
        retries += 1;
        let tc = &tc;
        async move {
            let (s, v) = tc
                .post(
                    &format!("{}/v1/topics/fresh/records", tc.url("broker-3")),
                    &json!({"records": [{"key": "a", "value": "1"}]}),
                )
                .await;
            if s == 200 {
                return Some(v);
            }
            assert!(
                v["retriable"] == true,
                "only retriable errors while metadata propagates: {v}"
            );
            None
        }
    })
    .await;
    assert!(ok.is_some(), "produce succeeded after {retries} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_bad_requests_should_answer_codes_and_damage_nothing() {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("safe", 2, 1, json!({"max.message.bytes": 2000}))
        .await;
    let b = tc.url("broker-1");
    let records = format!("{b}/v1/topics/safe/partitions/0/records");
    let (s, v) = tc
        .post(&records, &json!({"records": [{"value": "keep-me"}]}))
        .await;
    assert_eq!(s, 200, "{v}");
    let raw = |body: &'static str, ctype: &'static str| {
        let url = records.clone();
        let http = tc.http().clone();
        async move {
            let r = http
                .post(url)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let expect = |(s, v): (u16, Value), code: &str| {
        assert_eq!(v["error_code"], code, "{s} {v}");
        assert!((400..500).contains(&s), "{code} must be 4xx, got {s}");
    };
    expect(
        raw("{\"records\": [", "application/json").await,
        "INVALID_REQUEST",
    );
    expect(
        raw("{\"records\": [{\"key\": \"k\"}]}", "application/json").await,
        "INVALID_REQUEST",
    );
    expect(
        raw(
            "{\"records\": [{\"value_b64\": \"%%%\"}]}",
            "application/json",
        )
        .await,
        "INVALID_REQUEST",
    );
    expect(
        raw("{\"records\": []}", "application/json").await,
        "INVALID_REQUEST",
    );
    expect(
        raw(
            "{\"records\": [{\"value\": 1}], \"acks\": \"2\"}",
            "application/json",
        )
        .await,
        "INVALID_REQUEST",
    );
    expect(
        raw("{\"records\": [{\"value\": \"x\"}]}", "text/plain").await,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let one = json!({"records": [{"value": "x"}]});
    let posts = [
        (
            records.clone(),
            json!({"records": [{"value": "y".repeat(3000)}]}),
            "MESSAGE_TOO_LARGE",
        ),
        (
            records.clone(),
            json!({"records": [{"value": "z".repeat(20 * 1024 * 1024)}]}),
            "REQUEST_TOO_LARGE",
        ),
        (
            format!("{b}/v1/topics/nope/records"),
            one.clone(),
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            format!("{b}/v1/topics/safe/partitions/7/records"),
            one.clone(),
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            format!("{b}/v1/topics/safe/partitions/-1/records"),
            one.clone(),
            "INVALID_REQUEST",
        ),
    ];
    for (url, body, code) in posts {
        expect(tc.post(&url, &body).await, code);
    }
    let gets = [
        (format!("{records}?offset=-5"), "INVALID_REQUEST"),
        (
            format!("{records}?offset=99999999999999999999999"),
            "INVALID_REQUEST",
        ),
        (
            format!("{records}?offset=18446744073709551615"),
            "OFFSET_OUT_OF_RANGE",
        ),
        (format!("{records}?offset=5"), "OFFSET_OUT_OF_RANGE"),
        (
            format!("{records}?offset=0&max_wait_ms=abc"),
            "INVALID_REQUEST",
        ),
        (
            format!("{b}/v1/topics/safe/partitions/0/offsets?timestamp=soon"),
            "INVALID_REQUEST",
        ),
        (format!("{b}/v1/nothing"), "NOT_FOUND"),
    ];
    for (url, code) in gets {
        expect(tc.get(&url).await, code);
    }

    // Nothing stored was damaged and the broker still works.
    let (s, v) = tc.get(&format!("{records}?offset=0")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    assert_eq!(v["records"][0]["value"], "keep-me");
    let (s, _) = tc.get(&format!("{b}/healthz")).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_an_empty_partition_a_long_poll_fetch_should_wake_on_append() {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("wake", 1, 1, json!({})).await;
    let records = format!("{}/v1/topics/wake/partitions/0/records", tc.url("broker-1"));
    let waiter = {
        let (http, url) = (
            tc.http().clone(),
            format!("{records}?offset=0&max_wait_ms=20000"),
        );
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the fetch waits while there is nothing"
    );
    let (s, _) = tc
        .post(&records, &json!({"records": [{"value": "wake up"}]}))
        .await;
    assert_eq!(s, 200);
    let v = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken well before max_wait")
        .unwrap();
    assert_eq!(v["records"][0]["value"], "wake up");
    let (_, o) = tc
        .get(&format!(
            "{}/v1/topics/wake/partitions/0/offsets?timestamp=0",
            tc.url("broker-1")
        ))
        .await;
    assert_eq!(o["offset"], 0);
    assert_eq!(o["high_watermark"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_a_deleted_topic_brokers_should_delete_its_data() {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    tc.create_topic("doomed", 2, 1, json!({})).await;
    let b = tc.url("broker-1");
    let (s, v) = tc
        .post(
            &format!("{b}/v1/topics/doomed/records"),
            &json!({"records": [{"key": "k", "value": "v"}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let logs = tc.dir().join("broker-1/data/logs");
    assert!(logs.join("doomed-0").exists() && logs.join("doomed-1").exists());
    let (s, v) = tc
        .send(
            reqwest::Method::DELETE,
            &format!("{}/v1/topics/doomed", tc.url("controller-1")),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let gone = wait_for(Duration::from_secs(15), || async {
        (!logs.join("doomed-0").exists() && !logs.join("doomed-1").exists()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "partition directories removed");
    let (_, v) = tc
        .post(
            &format!("{b}/v1/topics/doomed/records"),
            &json!({"records": [{"value": "v"}]}),
        )
        .await;
    assert_eq!(v["error_code"], "UNKNOWN_TOPIC_OR_PARTITION");
    // Recreating the name starts empty.
    tc.create_topic("doomed", 1, 1, json!({})).await;
    let (_, o) = tc
        .get(&format!("{b}/v1/topics/doomed/partitions/0/offsets"))
        .await;
    assert_eq!(o["log_end_offset"], 0, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_running_broker_should_serve_the_generated_openapi_document() {
    let tc = start(1, 1, FAST_CONTROLLER, FAST_BROKER).await;
    let (status, served) = tc
        .get(&format!("{}/openapi.json", tc.url("broker-1")))
        .await;
    assert_eq!(status, 200, "{served}");
    let generated = serde_json::to_value(ferry_broker::api::openapi::document()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}
