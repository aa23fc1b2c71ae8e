//! The pure dispatch on synthetic profiles: the limit is met exactly where a
//! battery can meet it, and every interval respects the battery's bounds.

use algohost_plugin_peak_shaving::{Params, Schedule, dispatch, dispatch_with};
use algohost_sdk::serde_json::{self, Value, json};

const DT_H: f64 = 0.25;
const EPS: f64 = 1e-9;

fn params(value: Value) -> Params {
    serde_json::from_value(value).expect("params deserialise")
}

/// Three days at 15 minutes: a morning and an evening peak that grow day by
/// day, and PV around noon.
fn three_days() -> (Vec<f64>, Vec<f64>) {
    let mut load = Vec::new();
    let mut pv = Vec::new();
    for i in 0..3 * 96 {
        let day = (i / 96) as f64;
        let h = (i % 96) as f64 * DT_H;
        let bump = |centre: f64, width: f64| (-((h - centre) / width).powi(2)).exp();
        load.push(50.0 + (35.0 * bump(7.0, 1.5) + 45.0 * bump(19.0, 2.0)) * (1.0 + 0.1 * day));
        pv.push(if (6.0..18.0).contains(&h) {
            40.0 * (std::f64::consts::PI * (h - 6.0) / 12.0).sin()
        } else {
            0.0
        });
    }
    (load, pv)
}

fn battery(capacity_kwh: f64, power_kw: f64) -> Value {
    json!({"capacity_kwh": capacity_kwh, "power_kw": power_kw})
}

/// Every constraint, on every interval.
fn assert_constraints(load: &[f64], pv: &[f64], dt_h: f64, params: &Params, s: &Schedule) {
    let b = &params.battery;
    let eta = b.efficiency.sqrt();
    let (e_min, e_max) = (b.soc_min * b.capacity_kwh, b.soc_max * b.capacity_kwh);
    let n = load.len();
    assert_eq!(
        (s.battery_kw.len(), s.soc_kwh.len(), s.grid_kw.len()),
        (n, n, n)
    );
    let mut previous = b.soc_initial * b.capacity_kwh;
    for t in 0..n {
        let (p, soc, grid) = (s.battery_kw[t], s.soc_kwh[t], s.grid_kw[t]);
        assert!(
            p.abs() <= b.power_kw + EPS,
            "interval {t}: |{p}| kW above the power limit"
        );
        assert!(
            (e_min - EPS..=e_max + EPS).contains(&soc),
            "interval {t}: SoC {soc} kWh out of bounds"
        );
        let (charge, discharge) = ((-p).max(0.0), p.max(0.0));
        let expected = previous + charge * eta * dt_h - discharge / eta * dt_h;
        assert!(
            (soc - expected).abs() <= EPS,
            "interval {t}: SoC {soc} kWh, energy balance gives {expected}"
        );
        assert!(
            (grid - (load[t] - pv[t] - p)).abs() <= EPS,
            "interval {t}: grid {grid} kW is not load − PV − battery"
        );
        if p < 0.0 {
            assert!(
                grid <= params.limit_kw + EPS,
                "interval {t}: charging lifts grid import to {grid} kW"
            );
        }
        previous = soc;
    }
    let peak = |xs: Vec<f64>| xs.into_iter().fold(f64::MIN, f64::max);
    let net: Vec<f64> = load.iter().zip(pv).map(|(l, p)| l - p).collect();
    assert!((s.summary.peak_before_kw - peak(net)).abs() <= EPS);
    assert!((s.summary.peak_after_kw - peak(s.grid_kw.clone())).abs() <= EPS);
    assert!(s.summary.peak_after_kw <= s.summary.peak_before_kw + EPS);
    let charged: f64 = s.battery_kw.iter().map(|p| (-p).max(0.0) * dt_h).sum();
    let discharged: f64 = s.battery_kw.iter().map(|p| p.max(0.0) * dt_h).sum();
    assert!((s.summary.energy_charged_kwh - charged).abs() <= 1e-6);
    assert!((s.summary.energy_discharged_kwh - discharged).abs() <= 1e-6);
    assert!((s.summary.throughput_kwh - charged - discharged).abs() <= 1e-6);
    let above = s
        .grid_kw
        .iter()
        .filter(|g| **g > params.limit_kw + EPS)
        .count();
    assert_eq!(s.summary.intervals_above_limit, above);
}

#[test]
fn three_days_are_shaved_exactly_to_the_limit() {
    let (load, pv) = three_days();
    let p = params(json!({"limit_kw": 70.0, "battery": battery(200.0, 60.0)}));
    let s = dispatch(&load, &pv, DT_H, &p).unwrap();
    assert_constraints(&load, &pv, DT_H, &p, &s);
    assert!(
        s.summary.peak_before_kw > 100.0,
        "the profile has peaks to shave"
    );
    assert_eq!(s.summary.limit_met, Some(true));
    assert_eq!(s.summary.intervals_above_limit, 0);
    assert!(
        (s.summary.peak_after_kw - 70.0).abs() <= EPS,
        "peak after: {}",
        s.summary.peak_after_kw
    );
    // Above the limit the battery takes exactly the excess, no more.
    for t in 0..load.len() {
        let net = load[t] - pv[t];
        if net > 70.0 {
            assert!(
                (s.grid_kw[t] - 70.0).abs() <= EPS,
                "interval {t}: grid {}",
                s.grid_kw[t]
            );
        }
    }
    assert!(s.summary.energy_discharged_kwh > 0.0 && s.summary.energy_charged_kwh > 0.0);
}

#[test]
fn an_empty_battery_recharges_before_the_first_peak() {
    // Starts at soc_min; the first peak comes after four quiet hours, some
    // of which must be used to recharge.
    let load = [15.0, 15.0, 15.0, 15.0, 35.0, 35.0];
    let pv = [0.0; 6];
    let p = params(json!({
        "limit_kw": 25.0,
        "battery": {"capacity_kwh": 100.0, "power_kw": 10.0, "efficiency": 0.81, "soc_min": 0.1, "soc_initial": 0.1}
    }));
    let s = dispatch(&load, &pv, 1.0, &p).unwrap();
    assert_constraints(&load, &pv, 1.0, &p, &s);
    assert_eq!(s.summary.limit_met, Some(true), "grid: {:?}", s.grid_kw);
    assert!(
        s.grid_kw[4..].iter().all(|g| (g - 25.0).abs() <= EPS),
        "grid: {:?}",
        s.grid_kw
    );
    // The peaks take 20 kWh at the grid side, 20/0.9 = 22.2 kWh from
    // storage. Charging at 10 kW stores 9 kWh an hour, so the last three
    // quiet hours suffice and hour 0 stays idle: charging is as late as it can be.
    assert_eq!(s.battery_kw[0], 0.0, "{:?}", s.battery_kw);
    assert!(
        (s.battery_kw[1] + (20.0 / 0.9 - 18.0) / 0.9).abs() <= EPS,
        "{:?}",
        s.battery_kw
    );
    assert!(
        s.battery_kw[2..4].iter().all(|p| (p + 10.0).abs() <= EPS),
        "{:?}",
        s.battery_kw
    );
    assert!(
        (s.soc_kwh[5] - 10.0).abs() <= EPS,
        "ends at soc_min: {:?}",
        s.soc_kwh
    );
}

#[test]
fn a_small_battery_shaves_what_it_can_and_keeps_its_bounds() {
    let (load, pv) = three_days();
    let p = params(json!({"limit_kw": 70.0, "battery": battery(20.0, 60.0)}));
    let s = dispatch(&load, &pv, DT_H, &p).unwrap();
    assert_constraints(&load, &pv, DT_H, &p, &s);
    assert_eq!(s.summary.limit_met, Some(false));
    assert!(s.summary.intervals_above_limit > 0);
    assert!(s.summary.peak_after_kw <= s.summary.peak_before_kw);
    assert!(
        s.summary.energy_discharged_kwh > 0.0,
        "the battery still helps"
    );
}

#[test]
fn a_weak_battery_shaves_what_its_power_allows() {
    let (load, pv) = three_days();
    let p = params(json!({"limit_kw": 70.0, "battery": battery(500.0, 10.0)}));
    let s = dispatch(&load, &pv, DT_H, &p).unwrap();
    assert_constraints(&load, &pv, DT_H, &p, &s);
    assert_eq!(s.summary.limit_met, Some(false));
    assert!((s.summary.peak_after_kw - (s.summary.peak_before_kw - 10.0)).abs() <= EPS);
}

#[test]
fn a_limit_above_the_peak_leaves_the_grid_alone() {
    let (load, pv) = three_days();
    let p =
        params(json!({"limit_kw": 500.0, "battery": battery(200.0, 60.0), "recharge": "pv_only"}));
    let s = dispatch(&load, &pv, DT_H, &p).unwrap();
    assert_constraints(&load, &pv, DT_H, &p, &s);
    assert_eq!(s.summary.limit_met, Some(true));
    assert_eq!(s.summary.peak_after_kw, s.summary.peak_before_kw);
    assert_eq!(s.summary.energy_discharged_kwh, 0.0);
}

#[test]
fn pv_only_recharge_never_imports_for_the_battery() {
    let load = [10.0, 10.0, 2.0, 2.0, 10.0, 14.0];
    let pv = [0.0, 0.0, 6.0, 6.0, 0.0, 0.0];
    let p = params(json!({
        "limit_kw": 11.0,
        "recharge": "pv_only",
        "battery": {"capacity_kwh": 10.0, "power_kw": 5.0, "efficiency": 1.0, "soc_min": 0.0, "soc_max": 1.0, "soc_initial": 0.0}
    }));
    let s = dispatch(&load, &pv, 1.0, &p).unwrap();
    assert_constraints(&load, &pv, 1.0, &p, &s);
    assert_eq!(s.battery_kw, [0.0, 0.0, -4.0, -4.0, 0.0, 3.0]);
    assert_eq!(s.grid_kw, [10.0, 10.0, 0.0, 0.0, 10.0, 11.0]);
    assert_eq!(s.soc_kwh, [0.0, 0.0, 4.0, 8.0, 8.0, 5.0]);
}

/// A schedule that keeps the battery as full as it can: it meets the limit
/// whenever any schedule does, so the look-ahead must match it.
fn eager_meets_limit(net: &[f64], dt_h: f64, p: &Params) -> bool {
    let b = &p.battery;
    let eta = b.efficiency.sqrt();
    let (e_min, e_max) = (b.soc_min * b.capacity_kwh, b.soc_max * b.capacity_kwh);
    let mut stored = b.soc_initial * b.capacity_kwh;
    net.iter().all(|x| {
        if *x > p.limit_kw {
            let need = (x - p.limit_kw) / eta * dt_h;
            let ok = need <= stored - e_min + 1e-9 && x - p.limit_kw <= b.power_kw + 1e-9;
            stored = (stored - need).max(e_min);
            ok
        } else {
            let room = (p.limit_kw - x).min(b.power_kw);
            stored = (stored + room * eta * dt_h).min(e_max);
            true
        }
    })
}

#[test]
fn the_look_ahead_meets_every_limit_a_full_battery_meets() {
    // A deterministic pseudo-random walk of net load.
    let mut seed: u64 = 42;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x: f64 = 40.0;
    let load: Vec<f64> = (0..500)
        .map(|_| {
            x = (x + 20.0 * (next() - 0.5)).clamp(0.0, 120.0);
            x
        })
        .collect();
    let pv = vec![0.0; load.len()];
    let mut met = 0;
    for limit in (40..120).step_by(5) {
        let p = params(json!({
            "limit_kw": limit as f64,
            "battery": {"capacity_kwh": 150.0, "power_kw": 40.0, "soc_initial": 0.3}
        }));
        let s = dispatch(&load, &pv, DT_H, &p).unwrap();
        assert_constraints(&load, &pv, DT_H, &p, &s);
        assert_eq!(
            s.summary.limit_met,
            Some(eager_meets_limit(&load, DT_H, &p)),
            "limit {limit}"
        );
        let is_met = s.summary.limit_met == Some(true);
        met += usize::from(is_met);
        if is_met && s.summary.peak_before_kw > limit as f64 {
            assert!((s.summary.peak_after_kw - limit as f64).abs() <= EPS);
        }
    }
    assert!(
        met > 0 && met < 16,
        "the sweep covers feasible and infeasible limits ({met} met)"
    );
}

#[test]
fn the_step_callback_reports_progress_and_can_stop_the_dispatch() {
    let load = vec![10.0; 10_000];
    let pv = vec![0.0; 10_000];
    let p = params(json!({"limit_kw": 5.0, "battery": battery(10.0, 5.0)}));
    let mut seen = Vec::new();
    dispatch_with(&load, &pv, DT_H, &p, |f| {
        seen.push(f);
        Ok(())
    })
    .unwrap();
    assert!(seen.len() >= 4, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "monotonic: {seen:?}");
    assert_eq!(seen.last(), Some(&1.0));

    let err = dispatch_with(&load, &pv, DT_H, &p, |_| {
        Err(algohost_sdk::Error::Cancelled)
    })
    .unwrap_err();
    assert!(matches!(err, algohost_sdk::Error::Cancelled));
}

#[test]
fn bad_inputs_are_rejected_with_a_message() {
    let p = params(json!({"limit_kw": 5.0, "battery": battery(10.0, 5.0)}));
    let err = dispatch(&[1.0, 2.0], &[0.0], 1.0, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: load and PV must have one value per interval, got 2 load and 1 PV values"
    );
    let err = dispatch(&[1.0, f64::NAN], &[0.0, 0.0], 1.0, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: load value NaN at interval 1 is not a finite number"
    );
    let err = dispatch(&[1.0], &[0.0], 0.0, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: the interval length must be a positive number of hours, got 0"
    );
}

#[test]
fn an_empty_profile_gives_an_empty_schedule() {
    let p = params(json!({"limit_kw": 5.0, "battery": battery(10.0, 5.0)}));
    let s = dispatch(&[], &[], 1.0, &p).unwrap();
    assert!(s.battery_kw.is_empty());
    assert_eq!(s.summary.limit_met, Some(true));
}
