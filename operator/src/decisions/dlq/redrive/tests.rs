//! Table tests of the redrive state machine: every phase the last status may hold × every observation.

use super::*;
use RedrivePhase::*;

const NOW: i64 = 1_700_000_123_456;
const STARTED: i64 = 1_700_000_000_000;

fn policy(redrive: Option<(&str, Option<&str>)>) -> DlqPolicySpec {
    DlqPolicySpec {
        source_topic: "orders".into(),
        allowed_redrive_topics: vec!["audit".into(), "ghost".into()],
        redrive: redrive.map(|(id, destination)| RedriveSpec {
            id: id.into(),
            destination: destination.map(str::to_string),
            max_per_second: 250,
            max_messages: None,
        }),
        ..Default::default()
    }
}

fn prev(id: &str, phase: RedrivePhase) -> RedriveStatus {
    RedriveStatus {
        id: id.into(),
        phase,
        moved: 7,
        total: Some(20),
        started_at: time_of(STARTED),
        finished_at: phase.is_terminal().then(|| time_of(STARTED + 60_000)).flatten(),
        message: Some(format!("was {phase}")),
    }
}

fn seen<'a>(connected: bool, dlt_ready: bool, destination: Destination) -> Observed<'a> {
    Observed {
        live: None,
        connected,
        dead_letter: "orders-dlt",
        dead_letter_ready: dlt_ready,
        destination,
        now_ms: NOW,
    }
}

/// An observation of the redrive's surroundings, with the destination the spec names.
#[derive(Clone, Copy, Debug)]
enum Input {
    Disconnected,
    DltNotReady,
    /// The destination is the dead-letter topic itself, or not in the allowed list.
    DestNotAllowed,
    DestUnchecked,
    DestMissing,
    DestUnreachable,
    DestExists,
    NoDestination,
}

impl Input {
    fn spec(self) -> DlqPolicySpec {
        let dest = match self {
            Input::NoDestination => None,
            Input::DestNotAllowed => Some("payments"),
            _ => Some("audit"),
        };
        policy(Some(("r1", dest)))
    }

    fn observed<'a>(self) -> Observed<'a> {
        match self {
            Input::Disconnected => seen(false, false, Destination::Unchecked),
            Input::DltNotReady => seen(true, false, Destination::Unchecked),
            Input::DestNotAllowed | Input::DestUnchecked | Input::NoDestination => {
                seen(true, true, Destination::Unchecked)
            }
            Input::DestMissing => seen(true, true, Destination::Missing),
            Input::DestUnreachable => seen(true, true, Destination::Unreachable("timed out".into())),
            Input::DestExists => seen(true, true, Destination::Exists),
        }
    }
}

/// What a row expects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// The previous status, untouched, and nothing to do.
    Same,
    /// Held in this phase, with a `RedriveRefused` Event or not.
    Hold(RedrivePhase, bool),
    /// Ask Kafka about the destination first.
    Check,
    /// A move starts: resumed (its Running status was written before) or new.
    Start { resumed: bool },
}

fn check(row: &str, before: Option<&RedriveStatus>, step: Step, want: Want) {
    let d = match (step, want) {
        (Step::CheckDestination(dest), Want::Check) => {
            assert_eq!(dest, "audit", "{row}");
            return;
        }
        (Step::CheckDestination(dest), _) => panic!("{row}: asked to check {dest}, wanted {want:?}"),
        (Step::Decided(d), _) => d,
    };
    let same = before.filter(|p| p.id == "r1");
    let status = d.status.clone().unwrap_or_else(|| panic!("{row}: no status"));
    match want {
        Want::Same => {
            assert_eq!(d, Decision { status: before.cloned(), ..Default::default() }, "{row}");
        }
        Want::Hold(phase, refused_event) => {
            assert_eq!((status.phase, status.id.as_str()), (phase, "r1"), "{row}");
            assert_eq!(status.moved, same.map_or(0, |p| p.moved), "{row}: moved is kept");
            assert_eq!((status.total, status.started_at, status.finished_at), (None, None, None), "{row}");
            assert!(d.commands.is_empty(), "{row}: {:?}", d.commands);
            assert_eq!(d.event.as_ref().map(RedriveEvent::reason), refused_event.then_some("RedriveRefused"), "{row}");
        }
        Want::Check => panic!("{row}: decided {d:?}, wanted a destination check"),
        Want::Start { resumed } => {
            assert_eq!(status.phase, Running, "{row}");
            let Some(Command::Start { rate, initial }) = d.commands.last() else {
                panic!("{row}: no start in {:?}", d.commands)
            };
            assert_eq!(*rate, 250, "{row}");
            assert_eq!(initial.phase, MovePhase::Running, "{row}");
            assert_eq!(initial.moved, same.map_or(0, |p| p.moved), "{row}: a resumed move counts on");
            assert_eq!(initial.total, same.and_then(|p| p.total), "{row}");
            let started = if same.is_some() { STARTED } else { NOW };
            assert_eq!(initial.started_ms, started, "{row}: the first start is kept");
            assert_eq!(status, status_of("r1", initial), "{row}");
            let note = d.event.as_ref().map(RedriveEvent::note).unwrap_or_default();
            assert!(matches!(d.event, Some(RedriveEvent::Started(_))), "{row}");
            assert_eq!(note.ends_with("resumed"), resumed, "{row}: {note}");
        }
    }
}

#[test]
fn every_phase_times_every_observation_with_the_same_id() {
    use Input::*;
    use Want::*;
    let new = Start { resumed: false };
    // Columns: the previous status of the same id is absent, Pending, Running, Refused, Completed, Cancelled, Failed.
    let table: &[(Input, [Want; 7])] = &[
        (Disconnected, [Hold(Pending, false); 4].with_final()),
        (DltNotReady, [Hold(Pending, false); 4].with_final()),
        (
            DestNotAllowed,
            [Hold(Refused, true), Hold(Refused, true), Hold(Refused, true), Hold(Refused, false)].with_final(),
        ),
        (DestUnchecked, [Check; 4].with_final()),
        (
            DestMissing,
            [Hold(Refused, true), Hold(Refused, true), Hold(Refused, true), Hold(Refused, false)].with_final(),
        ),
        (DestUnreachable, [Hold(Pending, false); 4].with_final()),
        (DestExists, [new, new, Start { resumed: true }, new].with_final()),
        (NoDestination, [new, new, Start { resumed: true }, new].with_final()),
    ];
    let froms = [None, Some(Pending), Some(Running), Some(Refused), Some(Completed), Some(Cancelled), Some(Failed)];
    let mut rows = 0;
    for (input, wants) in table {
        for (from, want) in froms.iter().zip(wants) {
            let before = from.map(|phase| prev("r1", phase));
            let spec = input.spec();
            let step = decide(&spec, before.as_ref(), &input.observed());
            check(&format!("{from:?} × {input:?}"), before.as_ref(), step, *want);
            rows += 1;
        }
    }
    assert_eq!(rows, 56);
}

/// The last three columns: a final phase never changes under the same id.
trait WithFinal {
    fn with_final(self) -> [Want; 7];
}

impl WithFinal for [Want; 4] {
    fn with_final(self) -> [Want; 7] {
        [self[0], self[1], self[2], self[3], Want::Same, Want::Same, Want::Same]
    }
}

#[test]
fn a_new_id_starts_afresh_whatever_the_previous_redrive_was() {
    for phase in [Pending, Running, Refused, Completed, Cancelled, Failed] {
        let before = prev("r0", phase);
        let spec = Input::NoDestination.spec();
        let step = decide(&spec, Some(&before), &Input::NoDestination.observed());
        check(&format!("r0 {phase} → r1"), Some(&before), step, Want::Start { resumed: false });
        let step = decide(&spec, Some(&before), &Input::Disconnected.observed());
        check(&format!("r0 {phase} → r1, disconnected"), Some(&before), step, Want::Hold(Pending, false));
    }
}

#[test]
fn clearing_the_spec_cancels_what_was_pending_or_running() {
    let cleared = policy(None);
    // (previous phase, connected, expected phase, fence)
    let table: &[(Option<RedrivePhase>, bool, Option<RedrivePhase>, bool)] = &[
        (None, true, None, false),
        (Some(Pending), true, Some(Cancelled), true),
        (Some(Pending), false, Some(Cancelled), false),
        (Some(Running), true, Some(Cancelled), true),
        (Some(Running), false, Some(Cancelled), false),
        (Some(Refused), true, Some(Refused), false),
        (Some(Completed), true, Some(Completed), false),
        (Some(Cancelled), true, Some(Cancelled), false),
        (Some(Failed), false, Some(Failed), false),
    ];
    for &(from, connected, want, fence) in table {
        let before = from.map(|phase| prev("r1", phase));
        let Step::Decided(d) = decide(&cleared, before.as_ref(), &seen(connected, true, Destination::Unchecked)) else {
            panic!("{from:?}: a cleared spec checks nothing")
        };
        let row = format!("{from:?} connected={connected}");
        assert_eq!(d.status.as_ref().map(|s| s.phase), want, "{row}");
        assert_eq!(d.commands, if fence { vec![Command::Fence] } else { vec![] }, "{row}");
        assert_eq!(d.event, None, "{row}: the Event follows from the transition (finished_event)");
        if want == Some(Cancelled) && from != Some(Cancelled) {
            let s = d.status.unwrap();
            assert_eq!((s.moved, s.finished_at), (7, time_of(NOW)), "{row}");
            assert_eq!(s.message.as_deref(), Some("cancelled: spec.redrive was cleared"));
        } else {
            assert_eq!(d.status, before, "{row}: untouched");
        }
    }
}

#[test]
fn a_live_move_is_followed_cancelled_or_forgotten() {
    let progress = |phase| MoveProgress {
        phase,
        moved: 40,
        total: Some(100),
        started_ms: STARTED,
        finished_ms: (phase != MovePhase::Running).then_some(NOW),
        message: None,
    };
    // (spec id, live finished, expected phase shown, commands, message)
    type Row = (Option<&'static str>, bool, RedrivePhase, &'static [&'static str], Option<&'static str>);
    let table: &[Row] = &[
        (Some("r1"), false, Running, &["SetRate(250)"], None),
        (Some("r1"), true, Completed, &["SetRate(250)", "Forget"], None),
        (Some("r2"), false, Running, &[], Some("redrive \"r2\" waits for this move to finish")),
        (None, false, Running, &["Cancel"], Some("cancelling")),
        (None, true, Completed, &["Forget"], None),
    ];
    for &(spec_id, finished, phase, commands, message) in table {
        let live = LiveMove {
            id: "r1".into(),
            progress: progress(if finished { MovePhase::Completed } else { MovePhase::Running }),
            finished,
        };
        let observed = Observed { live: Some(&live), ..seen(true, true, Destination::Unchecked) };
        let spec = policy(spec_id.map(|id| (id, None)));
        let Step::Decided(d) = decide(&spec, Some(&prev("r1", Running)), &observed) else { panic!("no check") };
        let row = format!("spec {spec_id:?} finished={finished}");
        let s = d.status.unwrap();
        assert_eq!((s.id.as_str(), s.phase, s.moved), ("r1", phase, 40), "{row}");
        assert_eq!(s.message.as_deref(), message, "{row}");
        let got: Vec<String> = d.commands.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(got, commands, "{row}");
        assert_eq!(d.event, None, "{row}");
    }
    // Finished, and the spec asks for another id: the finished move is forgotten and the new one starts.
    let live = LiveMove { id: "r0".into(), progress: progress(MovePhase::Completed), finished: true };
    let observed = Observed { live: Some(&live), ..seen(true, true, Destination::Unchecked) };
    let Step::Decided(d) = decide(&policy(Some(("r1", None))), Some(&prev("r0", Completed)), &observed) else {
        panic!("no destination to check")
    };
    assert_eq!(d.commands.first(), Some(&Command::Forget));
    assert!(matches!(d.commands.get(1), Some(Command::Start { rate: 250, .. })), "{:?}", d.commands);
    assert_eq!(d.status.map(|s| (s.id, s.phase, s.moved)), Some(("r1".to_string(), Running, 0)));
}

#[test]
fn a_started_move_names_its_route_and_rate() {
    let mut spec = policy(Some(("r1", None)));
    let Step::Decided(d) = decide(&spec, None, &seen(true, true, Destination::Unchecked)) else { panic!() };
    assert_eq!(
        d.event.as_ref().map(RedriveEvent::note),
        Some("redrive r1 started: \"orders-dlt\" → each record's original topic, at most 250/s")
    );
    if let Some(r) = spec.redrive.as_mut() {
        r.max_per_second = 0;
        r.destination = Some("audit".into());
    }
    let Step::Decided(d) = decide(&spec, None, &seen(true, true, Destination::Exists)) else { panic!() };
    assert_eq!(
        d.event.as_ref().map(RedriveEvent::note),
        Some("redrive r1 started: \"orders-dlt\" → \"audit\", no rate limit")
    );
    assert!(matches!(d.commands.as_slice(), [Command::Start { rate: 0, .. }]));
    // Redriving into the dead-letter topic itself would loop: refused, whatever the allowed list says.
    let mut looping = policy(Some(("r1", Some("orders-dlt"))));
    looping.allowed_redrive_topics = vec!["*".into()];
    let Step::Decided(d) = decide(&looping, None, &seen(true, true, Destination::Exists)) else { panic!() };
    let s = d.status.unwrap();
    assert_eq!(s.phase, Refused);
    assert!(s.message.unwrap().contains("loop"));
}

#[test]
fn a_final_phase_is_announced_once() {
    let s = |id: &str, phase| RedriveStatus { message: None, ..prev(id, phase) };
    // (previous, now, expected Event reason)
    let table: &[(Option<RedriveStatus>, Option<RedriveStatus>, Option<&str>)] = &[
        (None, None, None),
        (Some(s("r1", Running)), None, None),
        (Some(s("r1", Running)), Some(s("r1", Running)), None),
        (Some(s("r1", Pending)), Some(s("r1", Refused)), None),
        (Some(s("r1", Running)), Some(s("r1", Completed)), Some("RedriveCompleted")),
        (None, Some(s("r1", Completed)), Some("RedriveCompleted")),
        (Some(s("r1", Running)), Some(s("r1", Cancelled)), Some("RedriveCancelled")),
        (Some(s("r1", Pending)), Some(s("r1", Failed)), Some("RedriveFailed")),
        (Some(s("r1", Completed)), Some(s("r1", Completed)), None),
        (Some(s("r0", Completed)), Some(s("r1", Completed)), Some("RedriveCompleted")),
    ];
    for (before, now, reason) in table {
        let event = finished_event(before.as_ref(), now.as_ref());
        assert_eq!(event.as_ref().map(RedriveEvent::reason), *reason, "{before:?} → {now:?}");
        if let Some(e) = event {
            assert_eq!(e.warning(), e.reason() == "RedriveFailed");
        }
    }
    let failed = RedriveStatus { message: Some("stopped before x".into()), ..s("r1", Failed) };
    let e = finished_event(None, Some(&failed)).unwrap();
    assert_eq!(e.note(), "redrive r1: failed after moving 7 record(s): stopped before x");
}
