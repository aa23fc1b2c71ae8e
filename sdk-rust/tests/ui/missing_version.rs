use algohost_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Params {
    x: f64,
}

#[algorithm(name = "double")]
fn double(_ctx: &Context, p: Params) -> Result<Output> {
    Ok(Output::new().with_summary(json!(p.x)))
}

fn main() {}
