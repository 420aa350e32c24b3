-- Production store, part 2: one function per operation. Each RPC call is one transaction, so a debit
-- never exists without its generation, a refund without its status, or a payment twice, whichever
-- replica calls. Functions are `security invoker` (the caller is service_role, which bypasses RLS),
-- pin `search_path = ''` and name every object with its schema. Writers stay VOLATILE (PostgREST runs
-- STABLE functions read-only). Errors the bot handles are `raise exception '<code>'` (SQLSTATE P0001,
-- HTTP 400): unknown_user. Everything else is a bug or an outage.

-- helpers ------------------------------------------------------------------------------------------

create function public.user_json(p_user_id bigint) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', u.id, 'username', u.username, 'language', u.language, 'blocked', u.blocked,
        'created_at', u.created_at, 'balance', coalesce(w.balance, 0))
    from public.users u left join public.wallets w on w.user_id = u.id
    where u.id = p_user_id;
$$;

create function public.wallet_balance(p_user_id bigint) returns bigint
language sql stable
set search_path = ''
as $$
    select balance from public.wallets where user_id = p_user_id;
$$;

-- Append one ledger entry and move the balance with it, inside the caller's transaction. The wallet row
-- lock serialises every movement of one user, so concurrent debits can never overdraw.
create function public.ledger_append(
    p_user_id bigint,
    p_delta bigint,
    p_kind text,
    p_key text,
    p_generation_id text default null,
    p_charge_id text default null,
    p_admin_id bigint default null,
    p_reason text default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_balance bigint;
    v_entry public.ledger;
begin
    select * into v_entry from public.ledger where idempotency_key = p_key;
    if found then
        return jsonb_build_object('outcome', 'already', 'entry', to_jsonb(v_entry),
                                  'balance', public.wallet_balance(v_entry.user_id));
    end if;
    select balance into v_balance from public.wallets where user_id = p_user_id for update;
    if not found then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
    -- the key may have been used by a transaction that committed while we waited for the lock
    select * into v_entry from public.ledger where idempotency_key = p_key;
    if found then
        return jsonb_build_object('outcome', 'already', 'entry', to_jsonb(v_entry),
                                  'balance', public.wallet_balance(v_entry.user_id));
    end if;
    if v_balance + p_delta < 0 then
        return jsonb_build_object('outcome', 'insufficient', 'balance', v_balance, 'required', -p_delta);
    end if;
    update public.wallets set balance = balance + p_delta, updated_at = now()
        where user_id = p_user_id returning balance into v_balance;
    insert into public.ledger (user_id, delta, kind, idempotency_key, generation_id, payment_charge_id,
                               admin_id, reason, balance_after)
        values (p_user_id, p_delta, p_kind, p_key, p_generation_id, p_charge_id, p_admin_id, p_reason,
                v_balance)
        returning * into v_entry;
    return jsonb_build_object('outcome', 'applied', 'entry', to_jsonb(v_entry), 'balance', v_balance);
end;
$$;

-- The row with the caller's field changes applied; only the columns a caller may set.
create function public.generation_with_fields(p_row public.generations, p_fields jsonb)
returns public.generations
language plpgsql stable
set search_path = ''
as $$
declare
    v_bad text;
begin
    select k into v_bad from jsonb_object_keys(coalesce(p_fields, '{}'::jsonb)) as k
        where k <> all (array['route_provider', 'route_model_id', 'provider_task_id', 'progress',
                              'result_path', 'file_id', 'error_code', 'error_message', 'deadline_at',
                              'next_poll_at', 'delivered_at', 'attempts', 'provider_result', 'result_meta',
                              'status_message_id', 'media_expired_at'])
        limit 1;
    if v_bad is not null then
        raise exception 'not a mutable generation field: %', v_bad using errcode = '22023';
    end if;
    return jsonb_populate_record(p_row, coalesce(p_fields, '{}'::jsonb));
end;
$$;

-- Write back every changeable column of a (locked) row.
create function public.generation_save(p_row public.generations) returns public.generations
language plpgsql
set search_path = ''
as $$
declare
    v_row public.generations;
begin
    update public.generations set
        status = p_row.status, route_provider = p_row.route_provider, route_model_id = p_row.route_model_id,
        provider_task_id = p_row.provider_task_id, progress = p_row.progress,
        result_path = p_row.result_path, file_id = p_row.file_id, error_code = p_row.error_code,
        error_message = p_row.error_message, attempts = p_row.attempts, updated_at = p_row.updated_at,
        deadline_at = p_row.deadline_at, next_poll_at = p_row.next_poll_at,
        lease_owner = p_row.lease_owner, lease_until = p_row.lease_until,
        finished_at = p_row.finished_at, delivered_at = p_row.delivered_at,
        provider_result = p_row.provider_result, result_meta = p_row.result_meta,
        status_message_id = p_row.status_message_id, media_expired_at = p_row.media_expired_at,
        hidden_at = p_row.hidden_at
    where id = p_row.id
    returning * into v_row;
    return v_row;
end;
$$;

-- users --------------------------------------------------------------------------------------------

create function public.ensure_user(p_user_id bigint, p_username text default null,
                                   p_language text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    insert into public.users as u (id, username, language) values (p_user_id, p_username, p_language)
    on conflict (id) do update set
        username = coalesce(excluded.username, u.username),
        language = coalesce(u.language, excluded.language),
        updated_at = now();
    insert into public.wallets (user_id) values (p_user_id) on conflict (user_id) do nothing;
    return public.user_json(p_user_id);
end;
$$;

create function public.get_user(p_user_id bigint) returns jsonb
language sql stable
set search_path = ''
as $$
    select public.user_json(p_user_id);
$$;

create function public.find_user_by_username(p_username text) returns jsonb
language sql stable
set search_path = ''
as $$
    select public.user_json(u.id) from public.users u
    where lower(u.username) = lower(ltrim(p_username, '@'))
    order by u.id limit 1;
$$;

create function public.set_user_language(p_user_id bigint, p_language text) returns void
language plpgsql
set search_path = ''
as $$
begin
    update public.users set language = p_language, updated_at = now() where id = p_user_id;
    if not found then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
end;
$$;

create function public.set_user_blocked(p_user_id bigint, p_blocked boolean) returns void
language plpgsql
set search_path = ''
as $$
begin
    update public.users set blocked = p_blocked, updated_at = now() where id = p_user_id;
    if not found then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
end;
$$;

-- wallet and payments ------------------------------------------------------------------------------

-- An admin adjustment (or any movement not tied to a generation or a payment).
create function public.apply_ledger_entry(p_user_id bigint, p_delta bigint, p_kind text,
                                          p_idempotency_key text, p_admin_id bigint default null,
                                          p_reason text default null) returns jsonb
language sql
set search_path = ''
as $$
    select public.ledger_append(p_user_id, p_delta, p_kind, p_idempotency_key, null, null, p_admin_id,
                                p_reason);
$$;

create function public.payment_already_recorded(p_charge_id text) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_entry public.ledger;
begin
    select * into v_entry from public.ledger where idempotency_key = 'purchase:' || p_charge_id;
    if not found then
        raise exception 'payment % has no purchase entry', p_charge_id using errcode = 'XX000';
    end if;
    return jsonb_build_object('outcome', 'already', 'entry', to_jsonb(v_entry),
                              'balance', public.wallet_balance(v_entry.user_id));
end;
$$;

-- A Telegram Stars payment and its credit `purchase:<charge_id>`, once per charge id.
create function public.record_payment(p_charge_id text, p_user_id bigint, p_stars integer,
                                      p_credits integer, p_payload text,
                                      p_provider_charge_id text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_rows integer;
begin
    if exists (select 1 from public.payments where telegram_payment_charge_id = p_charge_id) then
        return public.payment_already_recorded(p_charge_id);
    end if;
    if not exists (select 1 from public.users where id = p_user_id) then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
    insert into public.payments (telegram_payment_charge_id, user_id, stars, credits, payload,
                                 provider_charge_id)
        values (p_charge_id, p_user_id, p_stars, p_credits, p_payload, p_provider_charge_id)
        on conflict (telegram_payment_charge_id) do nothing;
    get diagnostics v_rows = row_count;
    if v_rows = 0 then  -- the same update is being handled by another replica right now
        return public.payment_already_recorded(p_charge_id);
    end if;
    return public.ledger_append(p_user_id, p_credits, 'purchase', 'purchase:' || p_charge_id, null,
                                p_charge_id);
end;
$$;

create function public.get_payment(p_charge_id text) returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(p) from public.payments p where p.telegram_payment_charge_id = p_charge_id;
$$;

create function public.list_payments(p_user_id bigint, p_limit integer default 10)
returns setof public.payments
language sql stable
set search_path = ''
as $$
    select * from public.payments where user_id = p_user_id
    order by created_at desc, telegram_payment_charge_id desc limit p_limit;
$$;

-- Mark a payment refunded and take back its credits as far as the balance allows, once.
create function public.record_payment_refund(p_charge_id text, p_now timestamptz) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_payment public.payments;
    v_balance bigint;
    v_debited bigint;
    v_outcome jsonb;
begin
    select * into v_payment from public.payments where telegram_payment_charge_id = p_charge_id for update;
    if not found then
        return null;
    end if;
    select balance into v_balance from public.wallets where user_id = v_payment.user_id for update;
    if v_payment.refunded then
        select -delta into v_debited from public.ledger
            where idempotency_key = 'payment_refund:' || p_charge_id;
        return jsonb_build_object('payment', to_jsonb(v_payment), 'debited', coalesce(v_debited, 0),
                                  'balance', v_balance, 'new', false);
    end if;
    update public.payments set refunded = true, refunded_at = p_now
        where telegram_payment_charge_id = p_charge_id returning * into v_payment;
    v_debited := least(v_payment.credits, v_balance);
    if v_debited > 0 then
        v_outcome := public.ledger_append(v_payment.user_id, -v_debited, 'payment_refund',
                                          'payment_refund:' || p_charge_id, null, p_charge_id);
        if v_outcome ->> 'outcome' <> 'applied' then
            raise exception 'payment refund % was not applied: %', p_charge_id, v_outcome
                using errcode = 'XX000';
        end if;
        v_balance := (v_outcome ->> 'balance')::bigint;
    end if;
    return jsonb_build_object('payment', to_jsonb(v_payment), 'debited', v_debited,
                              'balance', v_balance, 'new', true);
end;
$$;

create function public.list_ledger(p_user_id bigint, p_limit integer default 50)
returns setof public.ledger
language sql stable
set search_path = ''
as $$
    select * from public.ledger where user_id = p_user_id order by id desc limit p_limit;
$$;

-- generations --------------------------------------------------------------------------------------

-- Debit `gen:<id>` and insert the generation in `queued`, together or not at all; a repeated request
-- key returns the existing generation and charges nothing.
create function public.create_generation(
    p_id text,
    p_user_id bigint,
    p_chat_id bigint,
    p_model text,
    p_mode text,
    p_prompt text,
    p_request jsonb,
    p_cost integer,
    p_created_at timestamptz,
    p_deadline_at timestamptz,
    p_request_key text default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_generation public.generations;
    v_balance bigint;
    v_outcome jsonb;
begin
    if p_cost is null or p_cost <= 0 then
        raise exception 'a generation costs at least one credit' using errcode = '22023';
    end if;
    if p_request_key is not null then
        select * into v_generation from public.generations where request_key = p_request_key;
        if found then
            return jsonb_build_object('outcome', 'existing', 'generation', to_jsonb(v_generation),
                                      'balance', public.wallet_balance(v_generation.user_id));
        end if;
    end if;
    select balance into v_balance from public.wallets where user_id = p_user_id for update;
    if not found then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
    if p_request_key is not null then  -- a double tap handled by another replica meanwhile
        select * into v_generation from public.generations where request_key = p_request_key;
        if found then
            return jsonb_build_object('outcome', 'existing', 'generation', to_jsonb(v_generation),
                                      'balance', public.wallet_balance(v_generation.user_id));
        end if;
    end if;
    if v_balance < p_cost then
        return jsonb_build_object('outcome', 'insufficient', 'balance', v_balance, 'required', p_cost);
    end if;
    insert into public.generations (id, user_id, chat_id, model, mode, prompt, request, cost, status,
                                    request_key, created_at, updated_at, deadline_at, next_poll_at)
        values (p_id, p_user_id, p_chat_id, p_model, p_mode, p_prompt, p_request, p_cost, 'queued',
                p_request_key, p_created_at, p_created_at, p_deadline_at, p_created_at)
        returning * into v_generation;
    v_outcome := public.ledger_append(p_user_id, -p_cost, 'debit', 'gen:' || p_id, p_id);
    if v_outcome ->> 'outcome' <> 'applied' then
        raise exception 'debit for generation % was not applied: %', p_id, v_outcome using errcode = 'XX000';
    end if;
    return jsonb_build_object('outcome', 'created', 'generation', to_jsonb(v_generation),
                              'balance', (v_outcome ->> 'balance')::bigint);
end;
$$;

create function public.get_generation(p_id text) returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(g) from public.generations g where g.id = p_id;
$$;

-- Move to `p_to` only from a status in `p_allowed_from`, writing `p_fields` with it; null otherwise.
create function public.transition_generation(p_id text, p_to text, p_allowed_from text[],
                                             p_now timestamptz, p_fields jsonb default '{}')
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_row public.generations;
begin
    if p_to in ('failed', 'cancelled') then
        raise exception '% carries a refund: use end_with_refund', p_to using errcode = '22023';
    end if;
    select * into v_row from public.generations where id = p_id and status = any (p_allowed_from) for update;
    if not found then
        return null;
    end if;
    v_row := public.generation_with_fields(v_row, p_fields);
    v_row.status := p_to;
    v_row.updated_at := p_now;
    if p_to = 'succeeded' then
        v_row.finished_at := coalesce(v_row.finished_at, p_now);
    elsif p_to = 'delivered' then
        v_row.delivered_at := p_now;
    end if;
    return to_jsonb(public.generation_save(v_row));
end;
$$;

-- Set fields without a status change, only while the status is in `p_only_if`.
create function public.update_generation(p_id text, p_only_if text[], p_fields jsonb, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_row public.generations;
begin
    select * into v_row from public.generations where id = p_id and status = any (p_only_if) for update;
    if not found then
        return null;
    end if;
    v_row := public.generation_with_fields(v_row, p_fields);
    v_row.updated_at := p_now;
    return to_jsonb(public.generation_save(v_row));
end;
$$;

-- Fail or cancel an active generation and credit `refund:<id>` with its cost, in one step, at most once.
create function public.end_with_refund(p_id text, p_to text, p_allowed_from text[], p_error_code text,
                                       p_error_message text, p_now timestamptz) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_row public.generations;
    v_outcome jsonb;
begin
    if p_to not in ('failed', 'cancelled') then
        raise exception '% is not an ending with a refund', p_to using errcode = '22023';
    end if;
    if not p_allowed_from <@ array['queued', 'running'] then
        raise exception 'only an active generation can be refunded: a produced video is never refunded'
            using errcode = '22023';
    end if;
    select * into v_row from public.generations where id = p_id and status = any (p_allowed_from) for update;
    if not found then
        return jsonb_build_object('outcome', 'not_refundable',
                                  'generation', (select to_jsonb(g) from public.generations g where g.id = p_id));
    end if;
    v_row.status := p_to;
    v_row.error_code := p_error_code;
    v_row.error_message := p_error_message;
    v_row.updated_at := p_now;
    v_row.finished_at := p_now;
    v_row.lease_owner := null;
    v_row.lease_until := null;
    v_row.next_poll_at := null;
    v_row := public.generation_save(v_row);
    v_outcome := public.ledger_append(v_row.user_id, v_row.cost, 'refund', 'refund:' || p_id, p_id);
    if v_outcome ->> 'outcome' <> 'applied' then
        raise exception 'refund for generation % was not applied: %', p_id, v_outcome using errcode = 'XX000';
    end if;
    return jsonb_build_object('outcome', 'refunded', 'generation', to_jsonb(v_row),
                              'entry', v_outcome -> 'entry', 'balance', (v_outcome ->> 'balance')::bigint);
end;
$$;

-- A /library page, newest first, hidden rows left out. `p_before_*` is the last row of the current page
-- (the next, older page); `p_after_*` its first row (the previous, newer page).
create function public.list_user_generations(
    p_user_id bigint,
    p_limit integer default 10,
    p_before_created_at timestamptz default null,
    p_before_id text default null,
    p_after_created_at timestamptz default null,
    p_after_id text default null
) returns setof public.generations
language plpgsql stable
set search_path = ''
as $$
begin
    if p_after_created_at is not null then
        return query
            select * from (
                select * from public.generations g
                where g.user_id = p_user_id and g.hidden_at is null
                  and (g.created_at, g.id) > (p_after_created_at, p_after_id collate "C")
                order by g.created_at, g.id limit p_limit
            ) newer order by newer.created_at desc, newer.id desc;
    elsif p_before_created_at is not null then
        return query
            select * from public.generations g
            where g.user_id = p_user_id and g.hidden_at is null
              and (g.created_at, g.id) < (p_before_created_at, p_before_id collate "C")
            order by g.created_at desc, g.id desc limit p_limit;
    else
        return query
            select * from public.generations g
            where g.user_id = p_user_id and g.hidden_at is null
            order by g.created_at desc, g.id desc limit p_limit;
    end if;
end;
$$;

-- Delete from the owner's library once nothing more can happen to the row; marks its video gone.
create function public.hide_generation(p_id text, p_user_id bigint, p_now timestamptz) returns jsonb
language sql
set search_path = ''
as $$
    update public.generations set
        hidden_at = p_now,
        updated_at = p_now,
        media_expired_at = case when result_path is not null then coalesce(media_expired_at, p_now) end
    where id = p_id and user_id = p_user_id and hidden_at is null and next_poll_at is null
      and status in ('delivered', 'failed', 'cancelled')
    returning to_jsonb(generations.*);
$$;

create function public.count_active_generations(p_user_id bigint) returns bigint
language sql stable
set search_path = ''
as $$
    select count(*) from public.generations where user_id = p_user_id and status in ('queued', 'running');
$$;

create function public.count_generations_since(p_user_id bigint, p_since timestamptz) returns bigint
language sql stable
set search_path = ''
as $$
    select count(*) from public.generations where user_id = p_user_id and created_at >= p_since;
$$;

create function public.find_generation_by_task(p_provider text, p_task_id text) returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(g) from public.generations g
    where g.route_provider = p_provider and g.provider_task_id = p_task_id
    order by g.created_at desc limit 1;
$$;

-- Lease up to `p_limit` generations with work due whose lease is free or expired. Replicas claim
-- concurrently: `skip locked` hands each row to one of them without waiting.
create function public.claim_due_generations(p_now timestamptz, p_owner text, p_lease_seconds double precision,
                                             p_limit integer, p_overdue_only boolean default false)
returns setof public.generations
language sql
set search_path = ''
as $$
    update public.generations g
    set lease_owner = p_owner, lease_until = p_now + make_interval(secs => p_lease_seconds)
    where g.id in (
        select d.id from public.generations d
        where (
            case when p_overdue_only
                then d.status in ('queued', 'running') and d.deadline_at <= p_now
                else (d.status in ('queued', 'running')
                      and (d.next_poll_at is null or d.next_poll_at <= p_now or d.deadline_at <= p_now))
                  or (d.status in ('succeeded', 'failed', 'cancelled')
                      and d.next_poll_at is not null and d.next_poll_at <= p_now)
            end)
          and (d.lease_until is null or d.lease_until <= p_now)
        order by coalesce(d.next_poll_at, d.created_at)
        limit p_limit
        for update skip locked
    )
    returning g.*;
$$;

-- Lease one generation in any status if nobody holds an unexpired lease on it.
create function public.claim_generation(p_id text, p_now timestamptz, p_owner text,
                                        p_lease_seconds double precision) returns jsonb
language sql
set search_path = ''
as $$
    update public.generations
    set lease_owner = p_owner, lease_until = p_now + make_interval(secs => p_lease_seconds)
    where id = p_id and (lease_until is null or lease_until <= p_now)
    returning to_jsonb(generations.*);
$$;

create function public.extend_leases(p_ids text[], p_owner text, p_now timestamptz,
                                     p_lease_seconds double precision) returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_count integer;
begin
    update public.generations set lease_until = p_now + make_interval(secs => p_lease_seconds)
        where lease_owner = p_owner and id = any (p_ids);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- Drop our lease, schedule the next poll and write fields, in one step; false if the lease is not ours.
-- Only an active row or a video awaiting delivery keeps a next poll.
create function public.release_generation(p_id text, p_owner text, p_next_poll_at timestamptz default null,
                                          p_fields jsonb default '{}') returns boolean
language plpgsql
set search_path = ''
as $$
declare
    v_row public.generations;
    v_keeps_poll boolean;
begin
    select * into v_row from public.generations where id = p_id and lease_owner = p_owner for update;
    if not found then
        return false;
    end if;
    v_keeps_poll := v_row.status in ('queued', 'running') or v_row.next_poll_at is not null;
    v_row := public.generation_with_fields(v_row, p_fields);
    v_row.lease_owner := null;
    v_row.lease_until := null;
    v_row.next_poll_at := case when v_keeps_poll then p_next_poll_at end;
    perform public.generation_save(v_row);
    return true;
end;
$$;

-- Generations whose stored video is older than the retention cut and no longer awaited.
create function public.list_expired_media(p_finished_before timestamptz, p_limit integer)
returns setof public.generations
language sql stable
set search_path = ''
as $$
    select * from public.generations
    where result_path is not null and media_expired_at is null and finished_at < p_finished_before
      and status in ('delivered', 'succeeded', 'failed', 'cancelled') and next_poll_at is null
    order by finished_at limit p_limit;
$$;

-- Generations (by model, provider and status), payments and new users since `p_since`.
create function public.stats(p_since timestamptz) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object(
        'generations', coalesce((
            select jsonb_agg(row_to_json(s) order by s.model, s.provider nulls first, s.status)
            from (
                select g.model, g.route_provider as provider, g.status, count(*) as count,
                       sum(g.cost) as credits,
                       sum(coalesce((g.request ->> 'duration')::numeric, 0)) as seconds
                from public.generations g where g.created_at >= p_since
                group by g.model, g.route_provider, g.status
            ) s), '[]'::jsonb),
        'payments', (
            select jsonb_build_object(
                'payments', count(*), 'stars', coalesce(sum(p.stars), 0),
                'credits', coalesce(sum(p.credits), 0),
                'refunded', count(*) filter (where p.refunded),
                'refunded_stars', coalesce(sum(p.stars) filter (where p.refunded), 0))
            from public.payments p where p.created_at >= p_since),
        'new_users', (select count(*) from public.users u where u.created_at >= p_since));
$$;

-- audit, for the invariant checker -----------------------------------------------------------------

create function public.audit_wallets()
returns table (user_id bigint, balance bigint, ledger_sum bigint)
language sql stable
set search_path = ''
as $$
    select u.id, coalesce(w.balance, 0),
           coalesce((select sum(l.delta) from public.ledger l where l.user_id = u.id), 0)::bigint
    from public.users u left join public.wallets w on w.user_id = u.id
    order by u.id;
$$;

create function public.audit_generations()
returns table (id text, status text, cost integer, debits bigint[], refunds bigint[],
               deadline_at timestamptz, result_path text, media_expired boolean)
language sql stable
set search_path = ''
as $$
    select g.id, g.status, g.cost,
           coalesce(array(select l.delta from public.ledger l
                          where l.generation_id = g.id and l.kind = 'debit' order by l.id), '{}'),
           coalesce(array(select l.delta from public.ledger l
                          where l.generation_id = g.id and l.kind <> 'debit' order by l.id), '{}'),
           g.deadline_at, g.result_path, g.media_expired_at is not null
    from public.generations g order by g.id;
$$;

create function public.audit_payments()
returns table (charge_id text, payment_rows bigint, purchase_entries bigint)
language sql stable
set search_path = ''
as $$
    select c.charge_id,
           (select count(*) from public.payments p where p.telegram_payment_charge_id = c.charge_id),
           (select count(*) from public.ledger l where l.payment_charge_id = c.charge_id and l.kind = 'purchase')
    from (select telegram_payment_charge_id as charge_id from public.payments
          union select payment_charge_id from public.ledger where payment_charge_id is not null) c
    order by c.charge_id;
$$;

-- privileges: service_role only ------------------------------------------------------------------

do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure from pg_catalog.pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and p.proname = any (array[
              'user_json', 'wallet_balance', 'ledger_append', 'generation_with_fields', 'generation_save',
              'ensure_user', 'get_user', 'find_user_by_username', 'set_user_language', 'set_user_blocked',
              'apply_ledger_entry', 'payment_already_recorded', 'record_payment', 'get_payment',
              'list_payments', 'record_payment_refund', 'list_ledger', 'create_generation',
              'get_generation', 'transition_generation', 'update_generation', 'end_with_refund',
              'list_user_generations', 'hide_generation', 'count_active_generations',
              'count_generations_since', 'find_generation_by_task', 'claim_due_generations',
              'claim_generation', 'extend_leases', 'release_generation', 'list_expired_media', 'stats',
              'audit_wallets', 'audit_generations', 'audit_payments'])
    loop
        execute format('revoke all on function %s from public, anon, authenticated', v_function);
        execute format('grant execute on function %s to service_role', v_function);
    end loop;
end;
$$;

notify pgrst, 'reload schema';
