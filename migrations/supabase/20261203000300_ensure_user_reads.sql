-- ensure_user runs on every update the bot receives, and nearly always finds the user as they were: then it
-- only reads (no row version, no WAL, no row lock or username lock), instead of rewriting the row to bump
-- updated_at. "As they were": the user and the wallet exist, the @username is the one shown (or none is
-- shown), nobody else holds that name (a row from before one holder per name, which the write path takes
-- it away from), and the language is already set (or none is given; a set one is never replaced). Anything
-- else writes exactly as 20261203000200 did: the single @username holder, the upsert, welcome credits once.

create or replace function public.ensure_user(p_user_id bigint, p_username text default null,
                                              p_language text default null, p_welcome_credits bigint default 0)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_username text;
    v_language text;
    v_wallet boolean;
begin
    select u.username, u.language, w.user_id is not null into v_username, v_language, v_wallet
        from public.users u left join public.wallets w on w.user_id = u.id
        where u.id = p_user_id;
    if found and v_wallet
       and (p_username is null or (v_username = p_username and not exists (
                select 1 from public.users o where lower(o.username) = lower(p_username) and o.id <> p_user_id)))
       and (p_language is null or v_language is not null) then
        return public.user_json(p_user_id);
    end if;

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

-- `create or replace` keeps the function's privileges; restated so this file stands on its own
revoke all on function public.ensure_user(bigint, text, text, bigint) from public, anon, authenticated;
grant execute on function public.ensure_user(bigint, text, text, bigint) to service_role;

notify pgrst, 'reload schema';
