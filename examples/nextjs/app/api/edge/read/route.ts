import { read } from '@/lib/handlers';

export const runtime = 'edge';
export const dynamic = 'force-dynamic';

export const GET = read;
