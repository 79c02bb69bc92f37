"""The Discord bot: built by `create_bot`, run by `main` (`newsbot bot`, `python -m bot`)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import importlib.util
import logging
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from pydantic import ValidationError

from bot.audit import audit
from bot.limits import Cooldowns, FairSlots
from bot.scope import Scope, scope_of, serves, shared_problem
from rag import NewsbotError, QuestionError, Settings, settings_problems

if TYPE_CHECKING:
    from rag import Services

logger = logging.getLogger(__name__)
T = TypeVar("T")

NO_PINGS = discord.AllowedMentions.none()
SEND_RETRY_S = 1.0  # pause before the one extra try of a send that failed with a Discord 5xx
EXTENSIONS = ("bot.cogs.ask", "bot.cogs.admin", "bot.cogs.briefing", "bot.cogs.feeds",
              "bot.cogs.follows", "bot.cogs.check", "bot.cogs.buttons")


class AnswerTimeout(NewsbotError):
    """A question took longer than NEWSBOT_ASK_TIMEOUT_S."""


def intents() -> discord.Intents:
    """Default intents only: no privileged MESSAGE_CONTENT (mentions, replies to the bot and DMs still carry text)."""
    return discord.Intents.default()


class ServedTree(app_commands.CommandTree):
    """Slash commands (and their autocomplete) in a server off NEWSBOT_ALLOWED_GUILDS get no answer at all."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if self.client.serves(interaction.guild_id):
            return True
        logger.warning("ignoring /%s in server %s: not in NEWSBOT_ALLOWED_GUILDS",
                       interaction.command.name if interaction.command else "?", interaction.guild_id)
        return False


class NewsBot(commands.Bot):
    """A `commands.Bot` holding the settings and the rag services, with bounded, timed-out rag calls."""

    def __init__(self, settings: Settings, services: Services | None = None, **options: Any) -> None:
        options.setdefault("guild_ready_timeout", 2.0)
        super().__init__(command_prefix=commands.when_mentioned, intents=intents(), allowed_mentions=NO_PINGS,
                         help_command=None, tree_cls=ServedTree, **options)
        self.settings = settings
        self.services = services
        self.cooldowns = Cooldowns(settings.ask_cooldown_rate, settings.ask_cooldown_s)
        self.rag_slots = FairSlots(settings.ask_concurrency)
        self.tree.on_error = self.on_app_command_error

    def scope(self, guild_id: int | None) -> Scope:
        """The libraries a server (None: DMs) reads and writes; every Services call from a cog passes it on."""
        return scope_of(guild_id, self.settings.shared_libraries)

    def serves(self, guild_id: int | None) -> bool:
        """Whether the bot answers in this server (NEWSBOT_ALLOWED_GUILDS); DMs are always served."""
        return serves(guild_id, self.settings.allowed_guilds)

    def on_my_shards(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard of server `guild_id` (DMs: shard 0), so its scheduled posts and
        alerts are this process's to send. Every shard is ours without NEWSBOT_SHARD_IDS."""
        shards = self.my_shards()
        return shards is None or shard_of(guild_id, shards[0]) in shards[1]

    def my_shards(self) -> tuple[int, tuple[int, ...]] | None:
        """(NEWSBOT_SHARD_COUNT, NEWSBOT_SHARD_IDS) when this process runs only some shards; None: all of them."""
        if not self.settings.shard_count or not self.settings.shard_ids:
            return None
        return self.settings.shard_count, self.settings.shard_ids

    async def setup_hook(self) -> None:
        whole_process = self.services is None  # `newsbot bot`: the process is the bot's alone
        if self.services is None:
            from rag import build_services  # opens the store: only when the bot really starts

            self.services = await asyncio.to_thread(build_services, self.settings)
        if hasattr(self.services, "library_required"):
            self.services.library_required = True  # every write names its server's library; None raises
        for name in EXTENSIONS:
            if importlib.util.find_spec(name) is not None:
                await self.load_extension(name)
        if whole_process:
            # Everything loaded so far lives as long as the bot: take it out of the garbage collector's full
            # passes. Otherwise each full pass walks the libraries' objects (about 60 ms here) with the GIL held,
            # and the event loop stalls that long while questions are answered (docs/benchmarks.md).
            gc.collect()
            gc.freeze()
        if hasattr(self.services, "warm"):
            self.services.warm()  # builds in a background thread; questions are answered meanwhile
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Register the slash commands: in one guild at once if NEWSBOT_DISCORD_GUILD_ID is set, else globally."""
        if self.settings.discord_guild_id:
            guild = discord.Object(self.settings.discord_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: questions in messages are handled by the ask cog's listener."""

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Each server the bot is in, at startup (those that added it while it was off too) and after an outage."""
        await self.leave_if_unserved(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.leave_if_unserved(guild)

    async def leave_if_unserved(self, guild: discord.Guild) -> None:
        """Leave a server that is not on NEWSBOT_ALLOWED_GUILDS (anyone can add a public bot to their server)."""
        if self.serves(guild.id):
            return
        logger.warning("leaving server %s (%r): not in NEWSBOT_ALLOWED_GUILDS", guild.id, guild.name)
        try:
            await guild.leave()
        except discord.HTTPException:
            logger.exception("could not leave server %s; it still gets no answers", guild.id)

    async def run_rag(self, fn: Callable[..., T], *args: Any, guild: int | None, long: bool = False,
                      **kwargs: Any) -> T:
        """Run blocking rag work for server `guild` (None: a DM) in a thread, within NEWSBOT_ASK_TIMEOUT_S (`long`
        admin work that fetches: NEWSBOT_ADMIN_TIMEOUT_S), waiting for a slot included. At most
        NEWSBOT_ASK_CONCURRENCY run at once, fairly between servers (FairSlots). When the time is up the slot goes
        back at once; the work still running counts against its server's share until it ends."""
        limit = self.settings.admin_timeout_s if long else self.settings.ask_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            job = await asyncio.wait_for(self.rag_slots.acquire(guild, long), limit)
        except asyncio.TimeoutError:
            raise _timeout(limit) from None
        work = _in_thread(fn, *args, **kwargs)
        try:
            return await asyncio.wait_for(asyncio.shield(work), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise _timeout(limit) from None
        finally:
            if work.done():
                job.end()
            else:  # timed out or cancelled: free the slot now, end the job when its thread does
                job.overrun()
                work.add_done_callback(lambda done: (job.end(), _consume(done)))

    def refusal(self, guild_id: int | None, user_id: int, question: str) -> str | None:
        """Why a question is refused before any work (too long, empty, or the user is asking too fast in this
        server, or in DMs)."""
        question = question.strip()
        limit = self.settings.max_question_chars
        if not question:
            return "Please ask a question, e.g. `/ask question: What happened in Helsinki?`"
        if len(question) > limit:
            return f"Sorry, questions can be at most {limit} characters; yours has {len(question)}. Please shorten it."
        wait = self.cooldowns.retry_after(guild_id, user_id)
        if wait is not None:
            return f"You're asking quickly: please wait {max(1, round(wait))} s before the next question."
        return None

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """Checks become a short explanation; anything else an apology with an error id (traceback logged)."""
        original = getattr(error, "original", error)
        if isinstance(error, (app_commands.MissingPermissions, app_commands.NoPrivateMessage)):
            text = "Sorry, this command is for server admins (Manage Server permission), in a server."
            if interaction.command is not None:
                audit(interaction, f"/{interaction.command.name}", "refused: not a server admin here")
        elif isinstance(error, app_commands.CommandOnCooldown):
            text = f"You're going quickly: please wait {max(1, round(error.retry_after))} s."
        elif isinstance(original, (QuestionError, AnswerTimeout)):
            text = str(original)
        else:
            text = apology(original, f"/{interaction.command.name if interaction.command else '?'}")
        await send_ephemeral(interaction, text)


class ShardedNewsBot(NewsBot, commands.AutoShardedBot):
    """The bot as discord.py's `AutoShardedBot`: the shards NEWSBOT_SHARD_IDS of NEWSBOT_SHARD_COUNT in one
    process, so the other shards can run in other processes or on other machines."""


def shard_of(guild_id: int | None, shard_count: int | None) -> int:
    """The shard Discord sends server `guild_id` to: (id >> 22) % count; DMs go to shard 0."""
    return (guild_id >> 22) % shard_count if guild_id and shard_count else 0


def apology(error: BaseException, where: str) -> str:
    """Log the traceback under a fresh error id and return the short apology that shows that id."""
    error_id = uuid.uuid4().hex[:8]
    logger.error("error %s in %s", error_id, where, exc_info=(type(error), error, error.__traceback__))
    return f"Sorry, something went wrong on my side (error id `{error_id}`). Please try again later."


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately, whether or not the interaction was already answered or deferred."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException:
        logger.warning("could not tell the user about an error", exc_info=True)


async def send_with_retry(send: Callable[[], Awaitable[T]], what: str) -> T:
    """`send()`, tried once more after a Discord 5xx that discord.py gave up on or never retries (its REST client
    raises a 503 at once). A second failure is raised to the caller."""
    try:
        return await send()
    except discord.DiscordServerError as exc:
        logger.warning("sending %s failed with HTTP %s; trying once more in %g s", what, exc.status, SEND_RETRY_S)
    await asyncio.sleep(SEND_RETRY_S)
    return await send()


def _timeout(limit: float) -> AnswerTimeout:
    return AnswerTimeout(f"Sorry, that took longer than {limit:g} s. Please try again in a moment.")


def _in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
    """`fn(*args, **kwargs)` in a daemon thread of its own. Not the loop's default executor (`asyncio.to_thread`):
    work that overran its deadline would keep that executor's few threads (6 on 2 cores), which the feed poll and
    every later command need; and a daemon never holds up the process's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def run() -> None:
        try:
            outcome = (context.run(fn, *args, **kwargs), None)
        except BaseException as exc:  # handed to the awaiting coroutine, as asyncio.to_thread does
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop closed meanwhile (the bot stopped): nobody waits for it
            pass

    threading.Thread(target=run, name="newsbot-rag", daemon=True).start()
    return future


def _consume(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a timed-out rag call failed later: %r", task.exception())


def create_bot(settings: Settings | None = None, services: Services | None = None, **options: Any) -> NewsBot:
    """Build the bot without starting it; `services=None` opens the store in `setup_hook`. With
    NEWSBOT_SHARD_COUNT it is sharded (only NEWSBOT_SHARD_IDS, when set, run here)."""
    settings = settings or Settings()
    if not settings.shard_count:
        return NewsBot(settings, services, **options)
    options.setdefault("shard_count", settings.shard_count)
    options.setdefault("shard_ids", list(settings.shard_ids) if settings.shard_ids else None)
    return ShardedNewsBot(settings, services, **options)


async def _serve(bot: NewsBot, token: str) -> None:
    async with bot:
        await bot.start(token)


def configured_token(settings: Settings | None = None) -> str:
    """DISCORD_TOKEN (environment or .env) without surrounding blanks; "" when unset. `make run` asks this too."""
    settings = settings or Settings()
    return settings.discord_token.get_secret_value().strip() if settings.discord_token else ""


def main(settings: Settings | None = None) -> int:
    """Run the bot until stopped; a missing or rejected token is one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings or Settings()
    except ValidationError as exc:
        print(f"error: {settings_problems(exc)}", file=sys.stderr)
        return 2
    problem = shared_problem(settings.shared_libraries)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    token = configured_token(settings)
    if not token:
        print("error: DISCORD_TOKEN is not set; put the bot token from the Discord developer portal in the "
              "environment or .env", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(create_bot(settings), token))
    except discord.LoginFailure:
        print("error: Discord rejected DISCORD_TOKEN; reset the token in the developer portal and update it",
              file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print("error: Discord refused an intent this bot asked for; check the bot's settings in the portal",
              file=sys.stderr)
        return 2
    except NewsbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
