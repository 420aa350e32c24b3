-- aiogram's FSM state in the database (the wizard in progress, Stars orders waiting for their payment), so
-- a restart or another replica finds it (bot/fsm.py; Redis instead when REDIS_URL is set). With it, two
-- guards on what users send, in the functions that take it:
--   * a @username belongs to the user who shows it now: ensure_user takes it away from anyone else, and a
--     lookup that still finds two (rows from before this migration) picks the one seen last;
--   * MAX_ACTIVE_GENERATIONS is checked in the transaction that inserts the generation
--     (create_generation_capped), so orders arriving together cannot all pass a count made before.

-- FSM state ----------------------------------------------------------------------------------------

-- One row per storage key (bot, chat, user, destiny); a key with no state and empty data has no row.
create table public.fsm_states (
    key        text primary key,
    state      text,
    data       jsonb not null default '{}'::jsonb,
    updated_at timestamptz not null default now()
);

alter table public.fsm_states enable row level security;
revoke all on table public.fsm_states from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.fsm_states to service_role;

create function public.fsm_get(p_key text) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object('state', s.state, 'data', s.data) from public.fsm_states s where s.key = p_key;
$$;

-- Replace the state and the data of `p_key`; null and {} remove the key.
create function public.fsm_set(p_key text, p_state text, p_data jsonb) returns void
language plpgsql
set search_path = ''
as $$
begin
    if jsonb_typeof(p_data) is distinct from 'object' then
        raise exception 'FSM data must be a JSON object' using errcode = '22023';
    end if;
    if p_state is null and p_data = '{}'::jsonb then
        delete from public.fsm_states where key = p_key;
    else
        insert into public.fsm_states (key, state, data) values (p_key, p_state, p_data)
        on conflict (key) do update set state = excluded.state, data = excluded.data, updated_at = now();
    end if;
end;
$$;

-- one holder per @username --------------------------------------------------------------------------

create or replace function public.ensure_user(p_user_id bigint, p_username text default null,
                                              p_language text default null, p_welcome_credits bigint default 0)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    if p_username is not null then
        -- two users taking the same name at once queue here, so one of them ends up holding it
        perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('username:' || lower(p_username)));
        update public.users set username = null, updated_at = now()
            where lower(username) = lower(p_username) and id <> p_user_id;
    end if;
    insert into public.users (id, username, language) values (p_user_id, p_username, p_language)
    on conflict (id) do nothing;
    if found then
        insert into public.wallets (user_id) values (p_user_id) on conflict (user_id) do nothing;
        if p_welcome_credits > 0 then
            perform public.ledger_append(p_user_id, p_welcome_credits, 'welcome', 'welcome:' || p_user_id);
        end if;
    else
        update public.users
            set username = coalesce(p_username, username), language = coalesce(language, p_language),
                updated_at = now()
            where id = p_user_id;
        insert into public.wallets (user_id) values (p_user_id) on conflict (user_id) do nothing;
    end if;
    return public.user_json(p_user_id);
end;
$$;

create or replace function public.find_user_by_username(p_username text) returns jsonb
language sql stable
set search_path = ''
as $$
    select public.user_json(u.id) from public.users u
    where lower(u.username) = lower(ltrim(p_username, '@'))
    order by u.updated_at desc, u.id limit 1;
$$;

-- the active-generation cap, with the insert --------------------------------------------------------

-- create_generation, refused with {outcome: 'limited'} when the user already has `p_max_active`
-- generations queued or running (null: no cap). A repeated request key still returns its generation.
create function public.create_generation_capped(
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
    p_request_key text default null,
    p_max_active integer default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_active integer;
begin
    -- the wallet row lock create_generation takes anyway, taken first: the orders of one user queue
    -- here, so none of them can be counted before another one's insert commits
    perform 1 from public.wallets where user_id = p_user_id for update;
    if p_max_active is not null
       and not exists (select 1 from public.generations where request_key = p_request_key) then
        select count(*) into v_active from public.generations
            where user_id = p_user_id and status in ('queued', 'running');
        if v_active >= p_max_active then
            return jsonb_build_object('outcome', 'limited', 'limit', p_max_active);
        end if;
    end if;
    return public.create_generation(
        p_id => p_id, p_user_id => p_user_id, p_chat_id => p_chat_id, p_model => p_model, p_mode => p_mode,
        p_prompt => p_prompt, p_request => p_request, p_cost => p_cost, p_created_at => p_created_at,
        p_deadline_at => p_deadline_at, p_request_key => p_request_key);
end;
$$;

-- privileges: service_role only ----------------------------------------------------------------------

revoke all on function public.fsm_get(text) from public, anon, authenticated;
grant execute on function public.fsm_get(text) to service_role;
revoke all on function public.fsm_set(text, text, jsonb) from public, anon, authenticated;
grant execute on function public.fsm_set(text, text, jsonb) to service_role;
revoke all on function public.create_generation_capped(text, bigint, bigint, text, text, text, jsonb, integer,
                                                       timestamptz, timestamptz, text, integer)
    from public, anon, authenticated;
grant execute on function public.create_generation_capped(text, bigint, bigint, text, text, text, jsonb,
                                                          integer, timestamptz, timestamptz, text, integer)
    to service_role;

notify pgrst, 'reload schema';
