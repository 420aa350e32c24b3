-- Moderation before any charge (the embedded store's migrations/sqlite/0009_moderation.sql):
--   * users.banned: an admin's /block, so the user's orders are refused before any charge (their balance and
--     running generations are left alone). Not `blocked`, which means the user blocked the bot.
--   * moderation_events: the audit trail admins read with /audit: every refused prompt (which list or the
--     API, the category, what matched, at most 200 characters of the prompt) and every /block and /unblock
--     (with the admin and the reason). Append-only by privilege; newest first by id.

alter table public.users
    add column banned boolean not null default false,
    add column banned_reason text,
    add column banned_at timestamptz;

create table public.moderation_events (
    id          bigint generated always as identity primary key,
    user_id     bigint not null references public.users (id),
    created_at  timestamptz not null,
    source      text not null check (source in ('list', 'api', 'admin')),
    category    text not null,
    reason      text,
    excerpt     text check (char_length(excerpt) <= 200),
    admin_id    bigint
);
create index moderation_events_user on public.moderation_events (user_id, id desc);

alter table public.moderation_events enable row level security;
revoke all on table public.moderation_events from public, anon, authenticated, service_role;
revoke all on sequence public.moderation_events_id_seq from public, anon, authenticated, service_role;
grant select, insert on table public.moderation_events to service_role;  -- append-only by privilege too

-- the user as every user function returns it, now with the ban
create or replace function public.user_json(p_user_id bigint) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', u.id, 'username', u.username, 'language', u.language, 'blocked', u.blocked,
        'created_at', u.created_at, 'balance', coalesce(w.balance, 0),
        'banned', u.banned, 'banned_reason', u.banned_reason, 'banned_at', u.banned_at)
    from public.users u left join public.wallets w on w.user_id = u.id
    where u.id = p_user_id;
$$;

create function public.record_moderation_event(
    p_user_id bigint,
    p_source text,
    p_category text,
    p_created_at timestamptz,
    p_reason text default null,
    p_excerpt text default null,
    p_admin_id bigint default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_event public.moderation_events;
begin
    if not exists (select 1 from public.users where id = p_user_id) then
        raise exception 'unknown_user' using detail = p_user_id::text;
    end if;
    insert into public.moderation_events (user_id, created_at, source, category, reason, excerpt, admin_id)
        values (p_user_id, p_created_at, p_source, p_category, p_reason, p_excerpt, p_admin_id)
        returning * into v_event;
    return pg_catalog.to_jsonb(v_event);
end;
$$;

-- Newest first; `p_before` is the id of the last entry of the current page, `p_user_id` a filter.
create function public.list_moderation_events(
    p_limit integer, p_before bigint default null, p_user_id bigint default null
) returns setof public.moderation_events
language sql stable
set search_path = ''
as $$
    select * from public.moderation_events
    where (p_user_id is null or user_id = p_user_id) and (p_before is null or id < p_before)
    order by id desc limit p_limit;
$$;

-- Ban or lift the ban with its audit entry; {user, changed: false} when the user already was so, null for
-- an unknown user.
create function public.set_user_banned(
    p_user_id bigint, p_banned boolean, p_reason text, p_admin_id bigint, p_now timestamptz
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_banned boolean;
begin
    select banned into v_banned from public.users where id = p_user_id for update;
    if not found then
        return null;
    end if;
    if v_banned = p_banned then
        return jsonb_build_object('user', public.user_json(p_user_id), 'changed', false);
    end if;
    update public.users
        set banned = p_banned,
            banned_reason = case when p_banned then p_reason end,
            banned_at = case when p_banned then p_now end,
            updated_at = now()
        where id = p_user_id;
    insert into public.moderation_events (user_id, created_at, source, category, reason, admin_id)
        values (p_user_id, p_now, 'admin', case when p_banned then 'block' else 'unblock' end, p_reason,
                p_admin_id);
    return jsonb_build_object('user', public.user_json(p_user_id), 'changed', true);
end;
$$;

-- privileges: service_role only (`create or replace` keeps user_json's; restated so this file stands alone)
do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure from pg_catalog.pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and p.proname = any (array[
              'user_json', 'record_moderation_event', 'list_moderation_events', 'set_user_banned'])
    loop
        execute format('revoke all on function %s from public, anon, authenticated', v_function);
        execute format('grant execute on function %s to service_role', v_function);
    end loop;
end;
$$;

notify pgrst, 'reload schema';
