//! curl: several requests in one invocation, each with its answer.

use super::*;

/// Runs curl with `args`; panics when curl is not installed, since CI installs it.
async fn run_curl(args: &[String]) -> String {
    let child = tokio::process::Command::new("curl")
        .args(args)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "curl is not installed (`which curl` finds nothing): install it, for example with \
             `apt-get install curl`, to run this test"
        ),
        Err(error) => panic!("could not run curl: {error}"),
    };
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("curl finished within 60 s")
        .expect("curl ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed ({}): {stderr}", output.status);
    String::from_utf8(output.stdout).expect("curl's -w output is UTF-8")
}

/// One curl transfer: `--next` separates them; curl forgets every option between them.
fn curl_transfer(
    dir: &std::path::Path,
    index: usize,
    url: &str,
    headers: &[(String, String)],
    body_file: &std::path::Path,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--silent",
        "--show-error",
        "--noproxy",
        "*",
        "--max-time",
        "30",
        "--write-out",
        "%{http_code} %{num_connects}\\n",
    ]
    .map(str::to_owned)
    .to_vec();
    let output = dir.join(format!("response-{index}"));
    let head = dir.join(format!("head-{index}"));
    args.extend(["--output".to_owned(), output.display().to_string()]);
    args.extend(["--dump-header".to_owned(), head.display().to_string()]);
    for (name, value) in headers {
        // `Name:` with nothing after it removes a header curl would add.
        let header = if value.is_empty() { format!("{name}:") } else { format!("{name}: {value}") };
        args.extend(["--header".to_owned(), header]);
    }
    args.extend(["--data-binary".to_owned(), format!("@{}", body_file.display())]);
    args.push(url.to_owned());
    args
}

#[tokio::test]
async fn one_curl_invocation_sends_an_unsigned_upload_a_forgery_and_good_deliveries_and_each_gets_its_answer()
 {
    for target in Target::both(|| MeshagentSignatureLayer::new(SECRET)).await {
        let dir = std::env::temp_dir().join(format!(
            "meshagent-connections-curl-{}-{}",
            std::process::id(),
            target.addr.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("http://{}/webhook", target.addr);

        // 1: 2 MiB unsigned; curl sends `Expect: 100-continue` and waits: 401, never asked
        //    for the body, so the connection closes.
        // 2: a good delivery (on a new connection).
        // 3: a 200 KB forgery sent at once (no `Expect`): 401 after the body is drained.
        // 4: a good delivery on the same connection as 3.
        let unsigned = dir.join("unsigned.bin");
        std::fs::write(&unsigned, vec![b'u'; 2 * MIB]).unwrap();
        let forged = dir.join("forged.json");
        let forged_body = vec![b'f'; 200_000];
        std::fs::write(&forged, &forged_body).unwrap();
        let forged_signature =
            Signer::new("whsec_not_the_receivers").signature_header(&forged_body);
        let good = |index: usize, id: &str| {
            let body = Signer::event_payload("room.ended", &json!({ "room_name": id }));
            let file = dir.join(format!("good-{index}.json"));
            std::fs::write(&file, &body).unwrap();
            curl_transfer(&dir, index, &url, &signed_headers(body.as_bytes()), &file)
        };
        let forged_headers = [
            content_type(),
            ("Meshagent-Signature".to_owned(), forged_signature),
            ("Expect".to_owned(), String::new()),
        ];
        let transfers = [
            // curl adds `Expect: 100-continue` itself: the body is over 1 MiB.
            curl_transfer(&dir, 1, &url, &[content_type()], &unsigned),
            good(2, "curl-1"),
            curl_transfer(&dir, 3, &url, &forged_headers, &forged),
            good(4, "curl-2"),
        ];
        let args = transfers.join(&"--next".to_owned());
        let statuses = run_curl(&args).await;

        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let context = format!("{}: curl reported\n{statuses}", target.name);
        assert_eq!(statuses, "401 1\n200 1\n401 0\n200 0\n", "{context}");
        assert_eq!(read("response-1"), "missing signature", "{context}");
        assert_eq!(read("response-2"), target.ok_body, "{context}");
        assert_eq!(read("response-3"), "invalid jwt", "{context}");
        assert_eq!(read("response-4"), target.ok_body, "{context}");
        let closes = |head: &str| head.to_ascii_lowercase().contains("\nconnection: close");
        assert!(!read("head-1").contains(" 100 "), "{}: curl was asked for the body", target.name);
        assert!(closes(&read("head-1")), "{}: {}", target.name, read("head-1"));
        assert!(!closes(&read("head-3")), "{}: {}", target.name, read("head-3"));
        assert_eq!(target.delivered(), ["curl-1", "curl-2"], "{}", target.name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
