//! Generating the demo district and a year of its cases, and writing them,
//! with progress bars.

use anyhow::Context;
use civicgrid_demo::history::History;
use civicgrid_domain::case::EventKind;
use civicgrid_server::casework::{self, CaseSettings};
use civicgrid_store::attachments::AttachmentStore;
use civicgrid_store::{Actor, ImportedCase, NewCallDevice, NewCase, NewResponder, Store};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use jiff::civil::Date;
use std::ops::Range;
use std::sync::Arc;
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
    store.import_district(&bundle, &progress, &Actor::system("demo")).await?;
    bar.finish();
    store.set_setting("demo_seed", &seed.to_string(), &Actor::system("demo")).await?;
    add_responders(store, &bundle).await?;
    add_call_devices(store, &bundle).await?;
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

/// The demo district's responders (people of the four answering teams,
/// with synthetic skills) as the store registers them.
pub fn responder_records(bundle: &civicgrid_domain::DistrictBundle, on_duty: bool) -> Vec<NewResponder> {
    civicgrid_demo::responders(bundle)
        .into_iter()
        .map(|r| NewResponder {
            id: r.person,
            team: r.team.as_str().to_owned(),
            skills: r.skills.iter().map(|s| s.as_str().to_owned()).collect(),
            grid: r.grid,
            on_duty,
        })
        .collect()
}

/// Registers the demo district's responders, off duty and with no position
/// until one is reported.
pub async fn add_responders(store: &dyn Store, bundle: &civicgrid_domain::DistrictBundle) -> anyhow::Result<usize> {
    let rs = responder_records(bundle, false);
    store.add_responders(&rs, &Actor::system("demo")).await?;
    Ok(rs.len())
}

/// A demo device as the store registers it.
pub fn device_record(d: civicgrid_demo::DemoDevice, user_id: Option<i64>) -> NewCallDevice {
    NewCallDevice {
        code: d.code,
        kind: d.kind.as_str().to_owned(),
        user_id,
        household_id: Some(d.household_id),
        address: d.address,
        lat: d.lat,
        lon: d.lon,
        grid: d.grid,
    }
}

/// Registers the wall buttons of the demo district (one in the home of
/// every elderly resident living alone), in one transaction.
pub async fn add_call_devices(store: &dyn Store, bundle: &civicgrid_domain::DistrictBundle) -> anyhow::Result<usize> {
    let ds: Vec<NewCallDevice> =
        civicgrid_demo::call_devices(bundle).into_iter().map(|d| device_record(d, None)).collect();
    store.register_call_devices(&ds, &Actor::system("demo")).await?;
    Ok(ds.len())
}

/// What [`write_history`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct HistoryWritten {
    pub cases: usize,
    pub events: usize,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Cases per transaction: large enough that SQLite writes fast, small enough
/// that a batch of parsed events stays a few hundred MiB.
const HISTORY_BATCH: usize = 20_000;

/// The record of one synthetic case, as the server would have stored it
/// event by event: the same records and the same summary.
fn imported(c: civicgrid_demo::history::SyntheticCase, settings: &CaseSettings) -> anyhow::Result<ImportedCase> {
    let summary = casework::summary(settings, &c.view, &c.events, None);
    let events = c
        .events
        .iter()
        .zip(1..)
        .map(|(e, seq)| casework::to_record(seq, e).map_err(|e| anyhow::anyhow!(e.message)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let reported = match &c.events[0].kind {
        EventKind::Report { category, .. } => category.as_ref().map(|c| c.to_string()),
        _ => None,
    };
    Ok(ImportedCase {
        case: NewCase {
            source: c.view.source.as_str().to_owned(),
            category: reported.unwrap_or_default(),
            title: c.title,
            description: c.description,
            lat: c.lat,
            lon: c.lon,
            grid: c.grid,
            reporter_id: None,
        },
        events,
        summary,
    })
}

/// Writes `cases` synthetic cases over the year before `until` (China
/// Standard Time) into `store`, whose district is the demo's of `seed`.
/// Batches are made on a blocking thread while the previous one is written,
/// so generating and writing share the machine's cores. `progress` gets
/// (cases written, cases in all).
pub async fn write_history(
    store: &dyn Store,
    files: &AttachmentStore,
    seed: u64,
    cases: usize,
    until: Date,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<HistoryWritten> {
    let by = Actor::system("demo history");
    let photo = files.put(&civicgrid_demo::synthetic_photo()).context("could not store the synthetic photo")?;
    store.record_attachment(&photo, &by).await?;
    let bundle = civicgrid_demo::generate(seed);
    let history =
        Arc::new(History::new(&bundle, seed, cases, until, &photo.id).context("the demo district has no grids")?);
    drop(bundle);
    let (from, to) = history.period();
    let make = |range: Range<usize>| {
        let history = Arc::clone(&history);
        tokio::task::spawn_blocking(move || {
            let settings = CaseSettings::default();
            range
                .map(|i| {
                    let case = history.case(i).with_context(|| format!("synthetic case {i} was refused"))?;
                    imported(case, &settings)
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
    };
    let mut events = 0;
    let mut start = 0;
    let mut pending = (cases > 0).then(|| make(0..HISTORY_BATCH.min(cases)));
    while let Some(batch) = pending.take() {
        let batch = batch.await.context("the generator stopped")??;
        let end = start + batch.len();
        if end < cases {
            pending = Some(make(end..(end + HISTORY_BATCH).min(cases)));
        }
        let within = |done: u64, total: u64| {
            let share = if total == 0 { 0.0 } else { done as f64 / total as f64 };
            progress(start as u64 + (share * batch.len() as f64) as u64, cases as u64);
        };
        store.import_cases(&batch, &within, &by).await?;
        events += batch.iter().map(|c| c.events.len()).sum::<usize>();
        start = end;
    }
    let note = serde_json::json!({ "seed": seed, "cases": cases, "from": from, "to": to });
    store.set_setting(HISTORY_SETTING, &note.to_string(), &by).await?;
    Ok(HistoryWritten { cases, events, from, to })
}

/// The setting that records the synthetic year last written: `{seed, cases, from, to}`.
pub const HISTORY_SETTING: &str = "demo_history";

/// [`write_history`] with a progress bar and a line of figures.
pub async fn history(
    store: &dyn Store,
    files: &AttachmentStore,
    seed: u64,
    cases: usize,
    until: Date,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let bar = ProgressBar::new(cases as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} cases ({elapsed}, about {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("case history (synthetic)");
    let progress = |done: u64, _: u64| bar.set_position(done);
    let w = write_history(store, files, seed, cases, until, &progress).await?;
    bar.finish();
    let took = started.elapsed().as_secs_f64();
    tracing::info!(seconds = took, cases, "case history written");
    println!(
        "case history (synthetic) written in {took:.1} s: {} cases, {} events, reported from {} to {} (China Standard Time)",
        w.cases,
        w.events,
        cst(w.from),
        cst(w.to),
    );
    Ok(())
}

fn cst(t: Timestamp) -> String {
    jiff::tz::offset(8).to_datetime(t).strftime("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
    use super::*;
    use civicgrid_domain::kpi::Period;
    use civicgrid_domain::{Level, UnitCode, WorkCalendar};
    use civicgrid_store::{CaseQuery, ChainCheck, KeyRing};
    use std::collections::BTreeSet;

    #[tokio::test]
    async fn a_synthetic_year_is_stored_and_the_server_can_open_every_case() {
        let store = civicgrid_store::open("sqlite::memory:", KeyRing::ephemeral()).await.unwrap();
        let seed = civicgrid_demo::DEFAULT_SEED;
        load(store.as_ref(), seed, false).await.unwrap();
        let until = jiff::civil::date(2026, 11, 1);
        let dir = tempfile::tempdir().unwrap();
        let files = AttachmentStore::open(dir.path()).unwrap();
        let w = write_history(store.as_ref(), &files, seed, 2000, until, &|_, _| {}).await.unwrap();
        assert_eq!(w.cases, 2000);

        // Read back as the server reads: rows, events, replay, and the same summary.
        let district = UnitCode::parse("610304").unwrap();
        let q = CaseQuery { within: Some(district.clone()), limit: 1000, ..Default::default() };
        let page = store.cases(&q).await.unwrap();
        assert_eq!(page.total, 2000);
        let settings = CaseSettings::default();
        let mut numbers = BTreeSet::new();
        for offset in [0, 1000] {
            let q = CaseQuery { offset, ..q.clone() };
            for case in store.cases(&q).await.unwrap().items {
                let records = store.case_events(case.id).await.unwrap();
                assert_eq!(records.len() as i64, case.events);
                let events: Vec<_> = records.iter().map(casework::from_record).collect::<Result<_, _>>().unwrap();
                let view = casework::replay(&events).unwrap();
                let want = casework::summary(&settings, &view, &events, None);
                assert_eq!(case.summary, want, "case {}", case.number);
                assert_eq!(case.created_at, events[0].at);
                assert!(case.number.starts_with("610304-2025") || case.number.starts_with("610304-2026"));
                numbers.insert(case.number);
            }
        }
        assert_eq!(numbers.len(), 2000, "numbers are unique");

        // On-the-spot fixes show the one synthetic photo, which is on disk.
        let photo = files.put(&civicgrid_demo::synthetic_photo()).unwrap();
        assert!(!photo.created, "written with the history");
        let showing = store.cases_showing(&photo.id).await.unwrap();
        assert!(showing.len() > 20, "{} self-handled cases show it", showing.len());
        assert!(showing.iter().all(|c| c.source == "patrol"));
        files.read(&photo.id, civicgrid_store::attachments::Variant::Thumbnail).unwrap();

        // The indicators over the year are those of a working district.
        let period = Period { from: w.from, to: w.to };
        let report =
            casework::indicators(store.clone(), &WorkCalendar::china(), &district, period, &[Level::Street], w.to)
                .await
                .unwrap();
        assert_eq!(report.invalid_histories, 0);
        assert_eq!(report.units.len(), 2, "both streets");
        let reported: u32 = report.units.values().map(|k| k.reported).sum();
        assert_eq!(reported, 2000);
        for (street, k) in &report.units {
            assert_eq!(k.by_source.len(), 4, "{street}: every source");
            let rate = |r: civicgrid_domain::Ratio| r.value().unwrap();
            assert!((0.6..0.95).contains(&rate(k.on_time_closure)), "{street}: {:?}", k.on_time_closure);
            assert!((0.8..1.0).contains(&rate(k.on_time_filing)), "{street}: {:?}", k.on_time_filing);
            assert!((0.01..0.15).contains(&rate(k.rework)), "{street}: {:?}", k.rework);
            assert!((0.05..0.4).contains(&rate(k.self_handled)), "{street}: {:?}", k.self_handled);
            assert!(k.closed > 700 && k.evaluated > 100 && k.overdue_now > 0, "{street}: {k:?}");
            assert!(k.satisfaction_mean.is_some_and(|s| (3.5..4.8).contains(&s)), "{street}: {k:?}");
        }

        // One audited transaction per batch, and the chain holds.
        assert!(matches!(store.verify_audit().await.unwrap(), ChainCheck::Intact { .. }));
        let note = store.setting(HISTORY_SETTING).await.unwrap().unwrap();
        assert!(note.contains("\"cases\":2000"), "{note}");
    }
}
