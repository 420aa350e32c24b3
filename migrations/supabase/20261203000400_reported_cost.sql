-- /stats shows what providers reported a video cost (Runware `includeCost`, OpenRouter `usage.cost`, ...)
-- next to the catalog's estimate: the poller stores it as result_meta.cost_usd, and the generations rows of
-- stats() now carry how many reported one, the sum of those costs and the sum of their durations (so the
-- estimate covers only the rest). Same figures as the embedded store's query (storage/sqlite.py stats).

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
                       sum(coalesce((g.request ->> 'duration')::numeric, 0)) as seconds,
                       count(g.result_meta -> 'cost_usd') filter (
                           where jsonb_typeof(g.result_meta -> 'cost_usd') = 'number') as reported,
                       coalesce(sum((g.result_meta ->> 'cost_usd')::numeric) filter (
                           where jsonb_typeof(g.result_meta -> 'cost_usd') = 'number'), 0) as reported_cost_usd,
                       coalesce(sum(coalesce((g.request ->> 'duration')::numeric, 0)) filter (
                           where jsonb_typeof(g.result_meta -> 'cost_usd') = 'number'), 0) as reported_seconds
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

revoke all on function public.stats(timestamptz) from public, anon, authenticated;
grant execute on function public.stats(timestamptz) to service_role;

notify pgrst, 'reload schema';
