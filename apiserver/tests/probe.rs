mod common;

#[tokio::test]
#[ignore = "manual exploration"]
async fn explore() {
    let h = common::Harness::start().await;
    let args: Vec<String> = std::env::var("KARGS")
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = h.kubectl(&args).await;
    println!("code {code}\n--- stdout\n{out}\n--- stderr\n{err}");
}
