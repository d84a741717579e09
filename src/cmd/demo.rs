pub fn run(_a: DemoArgs) -> anyhow::Result<i32> {
    Ok(0)
}
#[derive(clap::Args)]
pub struct DemoArgs {}
