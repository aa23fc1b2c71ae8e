use algohost_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Params {
    x: f64,
}

#[algorithm(name = "double", version = "1.0.0")]
fn double(_ctx: &Context, p: Params) -> f64 {
    p.x
}

fn main() {}
