//! `ftrun check`

pub fn run() -> anyhow::Result<i32> {
    let ticks = recorder::ticks::detect();
    println!("tick counter: {ticks:?}");
    Ok(0)
}
