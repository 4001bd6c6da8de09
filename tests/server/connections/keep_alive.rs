//! One raw keep-alive connection: each drained rejection leaves it to the next delivery; and
//! the soak, 200 rounds of that sequence against both servers.

use super::*;

async fn keep_alive_survives_rejections(target: Target) {
    let sequence = keep_alive_sequence("keep-alive", target.ok_body);
    if let Err(error) = run_keep_alive(target.addr, &sequence).await {
        panic!("{}: {error}", target.name);
    }
    assert_eq!(target.delivered(), ids(&sequence), "{}: deliveries", target.name);
}

#[tokio::test]
async fn on_an_axum_app_each_drained_rejection_leaves_the_keep_alive_connection_to_the_next_delivery()
 {
    keep_alive_survives_rejections(Target::axum(MeshagentSignatureLayer::new(SECRET)).await).await;
}

#[tokio::test]
async fn on_the_built_in_server_each_drained_rejection_leaves_the_keep_alive_connection_to_the_next_delivery()
 {
    keep_alive_survives_rejections(Target::builtin(MeshagentSignatureLayer::new(SECRET)).await)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Soak: the keep-alive sequence, 200 rounds against both servers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: 200 rounds (about 2 GB over loopback); run with --ignored --nocapture"]
async fn soak_200_rounds_of_the_keep_alive_sequence_lose_no_delivery() {
    const ROUNDS: usize = 200;
    for target in Target::both(|| MeshagentSignatureLayer::new(SECRET)).await {
        let mut failures = Vec::new();
        let mut expected = Vec::new();
        for round in 0..ROUNDS {
            let sequence = keep_alive_sequence(&format!("soak-{round}"), target.ok_body);
            expected.extend(ids(&sequence));
            if let Err(error) = run_keep_alive(target.addr, &sequence).await {
                failures.push(format!("round {round}: {error}"));
            }
        }
        let delivered = target.delivered();
        let lost = expected.iter().filter(|id| !delivered.contains(id)).count();
        let duplicated = delivered.len() + lost - expected.len();
        println!(
            "{}: {ROUNDS} rounds, {} rejections and {} deliveries sent; {} delivered, {lost} lost, \
             {duplicated} extra; {} failed round(s)",
            target.name,
            3 * ROUNDS,
            expected.len(),
            delivered.len(),
            failures.len()
        );
        assert!(failures.is_empty(), "{}: {:#?}", target.name, &failures[..failures.len().min(5)]);
        assert_eq!((lost, duplicated), (0, 0), "{}", target.name);
    }
}
