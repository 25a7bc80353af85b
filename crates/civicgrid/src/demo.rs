//! Generating the demo district and writing it, with a progress bar.

use civicgrid_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// Generates the demo district from `seed` and imports it into `store`.
pub async fn load(store: &dyn Store, seed: u64, report: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let bundle = civicgrid_demo::generate(seed);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("demo district (synthetic)");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    store.import_district(&bundle, &progress, &civicgrid_store::Actor::system("demo")).await?;
    bar.finish();
    store.set_setting("demo_seed", &seed.to_string(), &civicgrid_store::Actor::system("demo")).await?;
    let took = started.elapsed();
    tracing::info!(seconds = took.as_secs_f64(), seed, "demo district written");
    if report {
        println!(
            "demo district (synthetic) written in {:.2} s: {} units, {} compounds, {} households, {} residents, {} people, {} cameras",
            took.as_secs_f64(),
            bundle.units.len(),
            bundle.compounds.len(),
            bundle.households.len(),
            bundle.residents.len(),
            bundle.people.len(),
            bundle.cameras.len()
        );
    }
    Ok(())
}
