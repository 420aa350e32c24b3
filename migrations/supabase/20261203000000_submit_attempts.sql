-- A create request is recorded before it is sent: `submit_request_id` is our client request id (Runware's
-- taskUUID), `submit_started_at` when it was recorded. A queued generation with one may have a paid task
-- upstream, so it is looked up or refunded, never submitted again. `failover_from` is the route
-- (`provider:model id`) whose provider accepted the task and then failed on its own side: the generation
-- went to the model's next route once, under the same debit.

alter table public.generations add column submit_request_id text;
alter table public.generations add column submit_started_at timestamptz;
alter table public.generations add column failover_from text;

-- Record a create about to be sent, with its route, on a queued generation without one; null otherwise.
create function public.begin_submit(p_id text, p_request_id text, p_provider text, p_model_id text,
                                    p_now timestamptz) returns jsonb
language sql
set search_path = ''
as $$
    update public.generations
    set submit_request_id = p_request_id, submit_started_at = p_now, route_provider = p_provider,
        route_model_id = p_model_id, updated_at = p_now
    where id = p_id and status = 'queued' and submit_request_id is null
    returning to_jsonb(generations.*);
$$;

-- Forget a create the provider refused, while the generation is queued and still records that create.
create function public.end_submit(p_id text, p_request_id text, p_now timestamptz) returns jsonb
language sql
set search_path = ''
as $$
    update public.generations
    set submit_request_id = null, submit_started_at = null, updated_at = p_now
    where id = p_id and status = 'queued' and submit_request_id = p_request_id
    returning to_jsonb(generations.*);
$$;

-- A running task its provider failed on its own side goes back to `queued` for the next route, once:
-- only while running and never failed over before.
create function public.requeue_generation(p_id text, p_failed_route text, p_deadline_at timestamptz,
                                          p_now timestamptz) returns jsonb
language sql
set search_path = ''
as $$
    update public.generations
    set status = 'queued', failover_from = p_failed_route, provider_task_id = null, provider_result = null,
        submit_request_id = null, submit_started_at = null, progress = 0, attempts = 0,
        deadline_at = p_deadline_at, next_poll_at = p_now, updated_at = p_now
    where id = p_id and status = 'running' and failover_from is null
    returning to_jsonb(generations.*);
$$;

-- Generations since `p_since` refunded because what their create did upstream could not be known.
create function public.count_uncertain_submits(p_since timestamptz) returns bigint
language sql stable
set search_path = ''
as $$
    select count(*) from public.generations
    where created_at >= p_since and error_code = 'uncertain_submit';
$$;

revoke all on function public.begin_submit(text, text, text, text, timestamptz)
    from public, anon, authenticated;
grant execute on function public.begin_submit(text, text, text, text, timestamptz) to service_role;
revoke all on function public.end_submit(text, text, timestamptz) from public, anon, authenticated;
grant execute on function public.end_submit(text, text, timestamptz) to service_role;
revoke all on function public.requeue_generation(text, text, timestamptz, timestamptz)
    from public, anon, authenticated;
grant execute on function public.requeue_generation(text, text, timestamptz, timestamptz) to service_role;
revoke all on function public.count_uncertain_submits(timestamptz) from public, anon, authenticated;
grant execute on function public.count_uncertain_submits(timestamptz) to service_role;

notify pgrst, 'reload schema';
