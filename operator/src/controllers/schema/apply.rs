//! One reconcile of a live Schema: read (Topic, text, references) → validate (a local parse) → observe the registry
//! (the subject's level, whether the text is registered) → plan (pure) → act (correct the level, test, register).
//! Each step goes on or stops with a [`Halt`]; the outcome lands in the status draft, written once at the end.

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::shared::{Error, SchemaContext};
use super::source;
use crate::api::common::ManagementPolicy;
use crate::api::conditions::{self, Draft, READY};
use crate::api::schema::{Schema, SchemaStatus, SchemaType};
use crate::controllers::status::apply_status;
use crate::decisions::problem::Problem;
use crate::decisions::schema::{self as decide, ObservedSubject};
use crate::registry::RegistryError;
use crate::runtime::metrics::{KindLabels, ResourceLabels};

pub const DRIFTED: &str = "Drifted";
/// When to look again after the registry failed to answer.
const REGISTRY_RETRY: Duration = Duration::from_secs(10);
/// When to look again while a Topic or a referenced Schema is not ready.
const WAITING_RETRY: Duration = Duration::from_secs(5);

type StatusDraft = Draft<SchemaStatus>;

/// Reconciles a live Schema and writes its status once.
pub async fn apply(schema: &Schema, sctx: &SchemaContext, api: &Api<Schema>) -> Result<Action, Error> {
    let mut status = schema.status.clone().unwrap_or_default();
    status.observed_generation = schema.metadata.generation;
    let mut draft = StatusDraft::new(status, schema.metadata.generation);
    let next = match converge(schema, sctx, &mut draft).await {
        Ok(next) => next,
        Err(halt) => {
            halt.announce(sctx, schema).await;
            draft.not_ready(halt.problem.reason, halt.problem.message);
            Action::requeue(halt.retry)
        }
    };
    apply_status(api, schema, schema.status.as_ref(), &draft.status, &sctx.ctx.metrics).await?;
    Ok(next)
}

/// Why a reconcile stopped short of Ready.
struct Halt {
    problem: Problem,
    retry: Duration,
    event: Announce,
}

/// Whether an Event tells of a halt.
enum Announce {
    Never,
    /// A Warning with the problem's reason, unless the Schema already reported this reason for this generation.
    WhenNew(&'static str),
}

impl Halt {
    fn quiet(problem: Problem, retry: Duration) -> Halt {
        Halt { problem, retry, event: Announce::Never }
    }

    fn announced(problem: Problem, retry: Duration, action: &'static str) -> Halt {
        Halt { problem, retry, event: Announce::WhenNew(action) }
    }

    async fn announce(&self, sctx: &SchemaContext, schema: &Schema) {
        let Announce::WhenNew(action) = self.event else { return };
        if !already_reported(schema, self.problem.reason) {
            sctx.ctx.event(schema, true, self.problem.reason, action, self.problem.message.clone()).await;
        }
    }
}

/// The Ready condition already says `reason` for the current generation.
fn already_reported(schema: &Schema, reason: &str) -> bool {
    let ready = schema.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY));
    ready.is_some_and(|c| c.reason == reason && c.observed_generation == schema.metadata.generation)
}

fn registry_halt(e: RegistryError) -> Halt {
    Halt::quiet(e.problem(), REGISTRY_RETRY)
}

async fn converge(schema: &Schema, sctx: &SchemaContext, draft: &mut StatusDraft) -> Result<Action, Halt> {
    let ctx = &sctx.ctx;
    let resync = ctx.config.resync;
    let ns = schema.namespace().unwrap_or_default();
    let labels = ResourceLabels { namespace: ns.clone(), name: schema.name_any() };

    // Read: the subject (a Topic that is not Ready stops here), the text, the references.
    let target = source::target(sctx, schema, &ns).await.map_err(|p| Halt::quiet(p, WAITING_RETRY))?;
    draft.status.subject = Some(target.subject.clone());
    let (text, field) = source::text(sctx, schema, &ns).await.map_err(|p| Halt::announced(p, resync, "Read"))?;
    let (references, imported) = source::references(sctx, schema, &ns).await.map_err(|p| {
        let retry = if p.reason == "ReferenceLoop" { resync } else { WAITING_RETRY };
        Halt::announced(p, retry, "Resolve")
    })?;

    // Validate: the text parses in its language, before anything is sent.
    decide::check_text(schema.spec.schema_type, &text, &imported, &field)
        .map_err(|p| Halt::announced(p, resync, "Validate"))?;

    // Observe the registry.
    let settings = source::registry_settings(sctx, &target.connection_key, &ns)
        .await
        .map_err(|p| Halt::announced(p, resync, "Connect"))?;
    let registry = sctx.registry(&target.connection_key, settings).map_err(|p| Halt::quiet(p, resync))?;
    let payload = source::payload(schema, text, references);
    let subject = &target.subject;
    let level = registry.level(subject).await.map_err(registry_halt)?;
    let found = registry.lookup(subject, &payload).await.map_err(registry_halt)?;
    let declared = schema.spec.compatibility;
    let policy = schema.spec.management_policy;
    let observed = ObservedSubject {
        level: level.clone(),
        registered: found.is_some(),
        had_version: schema.status.as_ref().is_some_and(|s| s.version.is_some()),
    };
    let the_plan = decide::plan(declared, policy, &observed);

    // Act: the level first, so the test and the registration run under the declared rule.
    draft.status.compatibility = level.clone();
    match (&the_plan.drift, the_plan.set_level) {
        (Some((found_level, _)), Some(to)) => {
            registry.set_level(subject, to).await.map_err(registry_halt)?;
            draft.status.compatibility = Some(to.as_str().to_string());
            // A level set on a subject new to this resource is its creation, not a drift: in sync from the first
            // status on (not only from the next resync's, a second write for nothing).
            if observed.had_version {
                let msg =
                    format!("compatibility of subject {subject:?} was {found_level}; set back to {}", to.as_str());
                ctx.metrics.drift_corrections.get_or_create(&KindLabels { kind: "Schema" }).inc();
                ctx.event(schema, false, "DriftCorrected", "Update", msg.clone()).await;
                draft.set(DRIFTED, false, "DriftCorrected", msg);
            } else {
                draft.set(DRIFTED, false, "InSync", format!("compatibility of subject {subject:?} is {}", to.as_str()));
            }
        }
        (Some((found_level, declared)), None) => {
            let why = match policy {
                ManagementPolicy::Observe => "left alone (managementPolicy Observe)",
                _ => "left alone (managementPolicy CreateOnly)",
            };
            let msg = format!(
                "compatibility of subject {subject:?} is {found_level}, the spec says {}; {why}",
                declared.as_str()
            );
            draft.set(DRIFTED, true, "DriftObserved", msg);
        }
        (None, _) => {
            // The last correction stays on record until a new drift or a new spec generation (as for Topics).
            let generation = schema.metadata.generation;
            let drifted = conditions::find(&draft.status.conditions, DRIFTED);
            if drifted.is_none_or(|c| c.reason != "DriftCorrected" || c.observed_generation != generation) {
                draft.set(
                    DRIFTED,
                    false,
                    "InSync",
                    format!("compatibility of subject {subject:?} is {}", declared.as_str()),
                );
            }
        }
    }

    let registered = match found {
        Some(r) => r,
        None if !the_plan.register => {
            let msg = format!(
                "this schema text is not registered under subject {subject:?}; managementPolicy Observe never registers"
            );
            return Err(Halt::quiet(Problem::new("NotRegistered", msg), resync));
        }
        None => {
            let verdict = registry.test_compatibility(subject, &payload).await.map_err(registry_halt)?;
            let outcome = if verdict.compatible {
                registry.register(subject, &payload).await
            } else if !verdict.messages.is_empty() {
                Err(RegistryError::Incompatible(verdict.messages.join("; ")))
            } else {
                match registry.refusal_reason(subject, &payload).await {
                    Ok(reason) => Err(RegistryError::Incompatible(reason)),
                    Err(registered) => Ok(registered),
                }
            };
            match outcome {
                Ok(r) => {
                    ctx.metrics.schema_versions_registered.get_or_create(&labels).inc();
                    let msg = format!("registered subject {subject:?} version {} (id {})", r.version, r.id);
                    ctx.event(schema, false, "Registered", "Register", msg).await;
                    r
                }
                Err(RegistryError::Incompatible(reason)) => {
                    let mut reasons = vec![reason];
                    if payload.schema_type == SchemaType::Avro {
                        let named = decide::name_avro_paths(&payload.text, &reasons[0]);
                        if !named.is_empty() {
                            reasons.push(format!("in this schema {}", named.join(", ")));
                        }
                    }
                    let problem = decide::refusal(subject, declared, &reasons);
                    if !already_reported(schema, problem.reason) {
                        ctx.metrics.schema_changes_refused.get_or_create(&labels).inc();
                    }
                    return Err(Halt::announced(problem, resync, "Register"));
                }
                Err(e) => return Err(registry_halt(e)),
            }
        }
    };
    draft.status.version = Some(registered.version);
    draft.status.id = Some(registered.id);
    let msg = format!("subject {subject:?} version {} (id {}) holds this schema", registered.version, registered.id);
    draft.set(READY, true, "Registered", msg);
    Ok(Action::requeue(resync))
}

/// Deleting a `deletionPolicy: Delete` Schema soft-deletes its subject (the registry keeps the versions, recoverable
/// with its own tools). A Schema that never registered anything (no subject in status) touches nothing.
pub async fn cleanup(schema: &Schema, sctx: &SchemaContext) -> Result<Action, Error> {
    let Some(subject) = schema.status.as_ref().and_then(|s| s.version.and(s.subject.clone())) else {
        return Ok(Action::await_change());
    };
    let ns = schema.namespace().unwrap_or_default();
    let target = source::target(sctx, schema, &ns).await;
    let key = match (&target, sctx.ctx.config.connection_key(schema.spec.connection_ref.as_ref(), &ns)) {
        (Ok(t), _) => t.connection_key.clone(),
        (Err(_), Some(key)) => key,
        (Err(p), None) => return Err(Error::Refused(p.clone())),
    };
    let settings = source::registry_settings(sctx, &key, &ns).await?;
    let registry = sctx.registry(&key, settings)?;
    registry.delete_subject(&subject).await.map_err(|e| Error::Refused(e.problem()))?;
    let msg = format!("soft-deleted subject {subject:?} (deletionPolicy Delete)");
    sctx.ctx.event(schema, false, "SubjectDeleted", "Delete", msg).await;
    Ok(Action::await_change())
}
