-- Argo CD health check for every Tributary kind (tributary.dev KafkaConnection, Topic, ConsumerGroup, DlqPolicy,
-- Schema).
-- Register it once per kind in argocd-cm as resource.customizations.health.tributary.dev_<Kind>
-- (see ../docs/argocd-health.md).
--   Progressing  the operator has not yet observed this generation (status.observedGeneration < metadata.generation)
--                or has not written a Ready condition yet
--   Suspended    a Topic paused with the tributary.dev/paused annotation (condition Paused=True)
--   Healthy      Ready=True for the current generation
--   Degraded     Ready=False, with its reason and message (InvalidConfig, Conflict, PartitionDecrease, Incompatible, ...)
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for Tributary to observe generation " .. tostring(generation)
  return hs
end
local ready = nil
local paused = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Paused" then
      paused = condition
    end
  end
end
local function describe(condition)
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  return reason .. message
end
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(paused)
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
else
  hs.status = "Progressing"
  hs.message = describe(ready)
end
return hs
