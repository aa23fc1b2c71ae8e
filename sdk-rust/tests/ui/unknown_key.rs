use algohost_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Params {
    x: f64,
}

#[algorithm(name = "double", version = "1.0.0", author = "me")]
fn double(_ctx: &Context, p: Params) -> Result<Output> {
    Ok(Output::new().with_summary(json!(p.x)))
}

fn main() {}
