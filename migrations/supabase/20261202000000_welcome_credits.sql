-- Trial credits (WELCOME_CREDITS): a ledger kind of their own, granted by ensure_user in the same
-- transaction that creates the user, keyed `welcome:<user_id>`, so each user gets them exactly once.

alter table public.ledger drop constraint ledger_kind_check;
alter table public.ledger add constraint ledger_kind_check
    check (kind in ('purchase', 'debit', 'refund', 'admin', 'payment_refund', 'welcome'));
create index ledger_kind_created on public.ledger (kind, created_at);

drop function public.ensure_user(bigint, text, text);

create function public.ensure_user(p_user_id bigint, p_username text default null,
                                   p_language text default null, p_welcome_credits bigint default 0)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
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

create or replace function public.stats(p_since timestamptz) returns jsonb
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
        'new_users', (select count(*) from public.users u where u.created_at >= p_since),
        'welcome', (
            select jsonb_build_object('users', count(*), 'credits', coalesce(sum(l.delta), 0))
            from public.ledger l where l.kind = 'welcome' and l.created_at >= p_since));
$$;

revoke all on function public.ensure_user(bigint, text, text, bigint) from public, anon, authenticated;
grant execute on function public.ensure_user(bigint, text, text, bigint) to service_role;
revoke all on function public.stats(timestamptz) from public, anon, authenticated;
grant execute on function public.stats(timestamptz) to service_role;

notify pgrst, 'reload schema';
