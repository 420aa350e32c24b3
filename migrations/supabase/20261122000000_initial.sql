-- Production store, part 1: the tables. Users, their wallet and its append-only ledger, Telegram Stars
-- payments and generations. Every money or lifecycle change goes through one function of the next
-- migration (one RPC call = one transaction); the bot talks to this database with the service_role key
-- only, so RLS is on everywhere with no policies and nothing is granted to anon or authenticated.

create table public.users (
    id          bigint primary key,                -- Telegram user id
    username    text,
    language    text,
    blocked     boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index users_username on public.users (lower(username));
create index users_created on public.users (created_at);

-- The cached balance; it moves only together with a ledger entry, and never below zero.
create table public.wallets (
    user_id     bigint primary key references public.users (id),
    balance     bigint not null default 0 check (balance >= 0),
    updated_at  timestamptz not null default now()
);

create table public.payments (
    telegram_payment_charge_id  text primary key,  -- unique: a charge credits once
    user_id                     bigint not null references public.users (id),
    stars                       integer not null check (stars > 0),
    credits                     integer not null check (credits >= 0),
    payload                     text not null,
    provider_charge_id          text,
    refunded                    boolean not null default false,
    created_at                  timestamptz not null default now(),
    refunded_at                 timestamptz
);
create index payments_user on public.payments (user_id, created_at desc);
create index payments_created on public.payments (created_at);

create table public.generations (
    id                 text collate "C" primary key, -- byte order, as the keyset pages compare ids
    user_id            bigint not null references public.users (id),
    chat_id            bigint not null,
    model              text not null,
    mode               text not null,
    prompt             text not null,
    request            jsonb not null,              -- the VideoRequest
    cost               integer not null check (cost > 0),
    status             text not null check (status in
                           ('queued', 'running', 'succeeded', 'delivered', 'failed', 'cancelled')),
    request_key        text unique,                 -- a double-tapped "pay" creates one generation
    route_provider     text,
    route_model_id     text,
    provider_task_id   text,
    progress           integer check (progress between 0 and 100),
    result_path        text,
    file_id            text,
    error_code         text,
    error_message      text,
    attempts           integer not null default 0,
    created_at         timestamptz not null,
    updated_at         timestamptz not null,
    deadline_at        timestamptz not null,        -- hard timeout: past it an active generation fails
    next_poll_at       timestamptz,
    lease_owner        text,
    lease_until        timestamptz,
    finished_at        timestamptz,
    delivered_at       timestamptz,
    provider_result    text,                        -- the provider's reference to the result
    result_meta        jsonb,                       -- {width, height, duration, size}
    status_message_id  bigint,
    media_expired_at   timestamptz,
    hidden_at          timestamptz                  -- deleted from the owner's /library
);
-- /library keyset pages: newest first per user, hidden rows left out
create index generations_library on public.generations (user_id, created_at desc, id desc)
    where hidden_at is null;
-- the poller: active rows by next poll and by hard timeout, and produced videos awaiting delivery
create index generations_due on public.generations (next_poll_at)
    where status in ('queued', 'running');
create index generations_deadline on public.generations (deadline_at)
    where status in ('queued', 'running');
create index generations_pending_delivery on public.generations (next_poll_at)
    where status in ('succeeded', 'failed', 'cancelled') and next_poll_at is not null;
create index generations_active_user on public.generations (user_id)
    where status in ('queued', 'running');
create index generations_provider_task on public.generations (route_provider, provider_task_id);
create index generations_media_retention on public.generations (finished_at)
    where result_path is not null and media_expired_at is null;
create index generations_created on public.generations (created_at);

create table public.ledger (
    id                 bigint generated always as identity primary key,
    user_id            bigint not null references public.users (id),
    delta              bigint not null check (delta <> 0),
    kind               text not null check (kind in ('purchase', 'debit', 'refund', 'admin', 'payment_refund')),
    idempotency_key    text not null unique,        -- gen:<id>, refund:<id>, purchase:<charge>, admin:...
    generation_id      text collate "C" references public.generations (id),
    payment_charge_id  text references public.payments (telegram_payment_charge_id),
    admin_id           bigint,
    reason             text,
    balance_after      bigint not null check (balance_after >= 0),
    created_at         timestamptz not null default now()
);
create index ledger_user on public.ledger (user_id, id desc);
create index ledger_generation on public.ledger (generation_id) where generation_id is not null;
create index ledger_payment on public.ledger (payment_charge_id) where payment_charge_id is not null;

-- The ledger is append-only: history is corrected by new entries, never by edits.
create function public.ledger_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    raise exception 'ledger is append-only';
end;
$$;
create trigger ledger_no_update before update or delete on public.ledger
    for each row execute function public.ledger_append_only();
create trigger ledger_no_truncate before truncate on public.ledger
    for each statement execute function public.ledger_append_only();

-- RLS on every table, no policies: only service_role (BYPASSRLS) reads or writes.
alter table public.users enable row level security;
alter table public.wallets enable row level security;
alter table public.payments enable row level security;
alter table public.generations enable row level security;
alter table public.ledger enable row level security;

-- Supabase's default privileges grant everything on new tables to anon, authenticated and service_role:
-- take that back, then grant service_role exactly what the functions need.
revoke all on table public.users, public.wallets, public.payments, public.generations, public.ledger
    from public, anon, authenticated, service_role;
revoke all on sequence public.ledger_id_seq from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.users, public.wallets, public.payments,
    public.generations to service_role;
grant select, insert on table public.ledger to service_role;  -- append-only by privilege too
grant usage, select on sequence public.ledger_id_seq to service_role;
revoke all on function public.ledger_append_only() from public, anon, authenticated;
