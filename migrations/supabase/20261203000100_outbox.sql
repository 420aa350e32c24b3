-- What the bot owes a user survives a kill (the SQLite twin is migrations/sqlite/0007_outbox.sql).
--
-- outbox            one row per notice that follows a money change, keyed `<kind>:<subject>` so it is
--                   written once and sent once: `purchase:<charge>` (a Stars payment credited),
--                   `order:<generation>` (the debit), `refund:<generation>` (a failed or cancelled
--                   generation's refund), `payment_refund:<charge>` (a Stars payment refunded). Triggers
--                   write it in the same transaction as the ledger or payment change, inside whichever
--                   function made that change (record_payment, create_generation, end_with_refund,
--                   record_payment_refund), so no function has to be redefined for it.
--                   The step that made the change sends it at once under a lease; the sender job takes
--                   whatever is left. `outcome` is set when it is done: sent, unreachable, gave_up.
-- video_uploads     uploads of a generation's video begun (counted before the upload leaves), so an upload
--                   whose answer was lost is repeated at most once.
-- telegram_updates  payment updates as received, stored before Telegram is told they arrived;
--                   `handled_at` once their handler finished, so a kill in between replays them.

create table public.outbox (
    key            text primary key,
    kind           text not null check (kind in ('purchase', 'order', 'refund', 'payment_refund')),
    user_id        bigint not null references public.users (id),
    chat_id        bigint not null,
    generation_id  text references public.generations (id),
    charge_id      text references public.payments (telegram_payment_charge_id),
    created_at     timestamptz not null,
    attempts       integer not null default 0,
    lease_owner    text,
    lease_until    timestamptz,
    done_at        timestamptz,
    outcome        text check (outcome in ('sent', 'unreachable', 'gave_up'))
);
create index outbox_pending on public.outbox (created_at) where done_at is null;

create table public.video_uploads (
    generation_id  text primary key references public.generations (id),
    uploads        integer not null check (uploads >= 0),
    updated_at     timestamptz not null
);

create table public.telegram_updates (
    update_id    bigint primary key,
    body         jsonb not null,
    received_at  timestamptz not null,
    handled_at   timestamptz
);
create index telegram_updates_pending on public.telegram_updates (update_id) where handled_at is null;

alter table public.outbox enable row level security;
alter table public.video_uploads enable row level security;
alter table public.telegram_updates enable row level security;
revoke all on table public.outbox, public.video_uploads, public.telegram_updates
    from public, anon, authenticated, service_role;
grant select, insert, update on table public.outbox, public.video_uploads, public.telegram_updates
    to service_role;

-- triggers: the notice is written with the money change -------------------------------------------

create function public.outbox_from_ledger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.kind = 'purchase' then
        insert into public.outbox (key, kind, user_id, chat_id, charge_id, created_at)
            values ('purchase:' || new.payment_charge_id, 'purchase', new.user_id, new.user_id,
                    new.payment_charge_id, new.created_at)
            on conflict (key) do nothing;
    elsif new.kind in ('debit', 'refund') then
        insert into public.outbox (key, kind, user_id, chat_id, generation_id, created_at)
            select case new.kind when 'debit' then 'order:' else 'refund:' end || g.id,
                   case new.kind when 'debit' then 'order' else 'refund' end,
                   g.user_id, g.chat_id, g.id,
                   case new.kind when 'debit' then g.created_at
                                 else coalesce(g.finished_at, new.created_at) end
            from public.generations g where g.id = new.generation_id
            on conflict (key) do nothing;
    end if;
    return null;
end;
$$;
create trigger outbox_from_ledger after insert on public.ledger
    for each row execute function public.outbox_from_ledger();

create function public.outbox_from_payment_refund() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    insert into public.outbox (key, kind, user_id, chat_id, charge_id, created_at)
        values ('payment_refund:' || new.telegram_payment_charge_id, 'payment_refund', new.user_id,
                new.user_id, new.telegram_payment_charge_id, coalesce(new.refunded_at, now()))
        on conflict (key) do nothing;
    return null;
end;
$$;
create trigger outbox_from_payment_refund after update of refunded on public.payments
    for each row when (new.refunded and not old.refunded)
    execute function public.outbox_from_payment_refund();

-- outbox -------------------------------------------------------------------------------------------

-- Lease one pending notice unless someone holds an unexpired lease on it (or its retry is not due).
create function public.claim_notice(p_key text, p_now timestamptz, p_owner text,
                                    p_lease_seconds double precision) returns jsonb
language sql
set search_path = ''
as $$
    update public.outbox
    set lease_owner = p_owner, lease_until = p_now + make_interval(secs => p_lease_seconds)
    where key = p_key and done_at is null and (lease_until is null or lease_until <= p_now)
    returning to_jsonb(outbox.*);
$$;

-- Lease up to `p_limit` pending notices written at or before `p_created_before`, oldest first.
create function public.claim_due_notices(p_now timestamptz, p_created_before timestamptz, p_owner text,
                                         p_lease_seconds double precision, p_limit integer)
returns setof public.outbox
language sql
set search_path = ''
as $$
    update public.outbox o
    set lease_owner = p_owner, lease_until = p_now + make_interval(secs => p_lease_seconds)
    where o.key in (
        select d.key from public.outbox d
        where d.done_at is null and d.created_at <= p_created_before
          and (d.lease_until is null or d.lease_until <= p_now)
        order by d.created_at
        limit p_limit
        for update skip locked
    )
    returning o.*;
$$;

-- Our leased notice is done (`p_outcome`), or was not sent: then the lease is dropped, the attempt
-- counted, and the notice may be taken again from `p_retry_at`. False when the lease was not ours.
create function public.finish_notice(p_key text, p_owner text, p_now timestamptz, p_outcome text,
                                     p_retry_at timestamptz) returns boolean
language plpgsql
set search_path = ''
as $$
begin
    update public.outbox
    set lease_owner = null,
        lease_until = case when p_outcome is null then p_retry_at end,
        attempts = attempts + case when p_outcome is null then 1 else 0 end,
        done_at = case when p_outcome is null then null else p_now end,
        outcome = p_outcome
    where key = p_key and lease_owner = p_owner and done_at is null;
    return found;
end;
$$;

-- Count one more upload of a generation's video, before it leaves; returns the count with this one.
create function public.begin_upload(p_generation_id text, p_now timestamptz) returns integer
language sql
set search_path = ''
as $$
    insert into public.video_uploads as u (generation_id, uploads, updated_at)
        values (p_generation_id, 1, p_now)
        on conflict (generation_id) do update set uploads = u.uploads + 1, updated_at = p_now
        returning u.uploads;
$$;

-- Telegram refused the upload for certain (flood control, too large): it does not count.
create function public.upload_refused(p_generation_id text, p_now timestamptz) returns void
language sql
set search_path = ''
as $$
    update public.video_uploads set uploads = greatest(uploads - 1, 0), updated_at = p_now
        where generation_id = p_generation_id;
$$;

-- received payment updates -------------------------------------------------------------------------

create function public.keep_update(p_update_id bigint, p_body jsonb, p_now timestamptz) returns void
language sql
set search_path = ''
as $$
    insert into public.telegram_updates (update_id, body, received_at) values (p_update_id, p_body, p_now)
        on conflict (update_id) do nothing;
$$;

create function public.finish_update(p_update_id bigint, p_now timestamptz) returns void
language sql
set search_path = ''
as $$
    update public.telegram_updates set handled_at = p_now
        where update_id = p_update_id and handled_at is null;
$$;

create function public.pending_updates(p_limit integer) returns setof public.telegram_updates
language sql stable
set search_path = ''
as $$
    select * from public.telegram_updates where handled_at is null order by update_id limit p_limit;
$$;

do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure from pg_catalog.pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and p.proname = any (array[
              'outbox_from_ledger', 'outbox_from_payment_refund', 'claim_notice', 'claim_due_notices',
              'finish_notice', 'begin_upload', 'upload_refused', 'keep_update', 'finish_update',
              'pending_updates'])
    loop
        execute format('revoke all on function %s from public, anon, authenticated', v_function);
        execute format('grant execute on function %s to service_role', v_function);
    end loop;
end;
$$;

notify pgrst, 'reload schema';
