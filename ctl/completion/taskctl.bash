# bash completion for taskctl(1). Installed as
# /usr/share/bash-completion/completions/taskctl, which bash-completion loads on the first
# `taskctl <TAB>`. Keep in step with ctl/args.c++ (usageText).

# The queues the daemon knows, for --queue and `queue set|pause|resume`. Asks the daemon, briefly:
# completion must never hang on one that does not answer.
_taskctl_queues() {
    local socket=()
    [[ -n $1 ]] && socket=(--socket "$1")
    timeout 2 taskctl "${socket[@]}" queue list 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_taskctl() {
    local cur prev words cword split
    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD split=false
    fi

    local commands='submit rerun edit status list wait cancel hold release pause resume why logs watch progress
        queue schedule drain undrain update help'
    local global_opts='--socket --json --help --version'
    local submit_opts='--queue --priority --label --wait --timeout --kill-grace --heartbeat --cpu
        --memory --tasks-max --after --in --at --retries --retry-on --memory-grow --memory-max
        --timeout-grow --timeout-max --backoff --key --on-conflict --request-id --hold'

    # The command is the first word that is not an option (or the value of --socket); for
    # queue and schedule, the word after it is the subcommand.
    local i command='' sub='' socket='' command_at=0 sub_at=0 dashdash_at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) socket=${words[i + 1]}; ((i++)); continue ;;
            --socket=*) socket=${words[i]#--socket=}; continue ;;
        esac
        if [[ -z $command ]]; then
            [[ ${words[i]} == -* ]] && continue
            command=${words[i]} command_at=$i
        elif [[ ${words[i]} == -- ]]; then
            dashdash_at=$i
            break
        elif [[ -z $sub && ($command == queue || $command == schedule) && ${words[i]} != -* ]]; then
            sub=${words[i]} sub_at=$i
        fi
    done

    # Values of options.
    case $prev in
        --socket)
            _filedir 2>/dev/null || COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --queue)
            COMPREPLY=($(compgen -W "$(_taskctl_queues "$socket")" -- "$cur"))
            return ;;
        --state)
            COMPREPLY=($(compgen -W 'waiting queued starting running retrying succeeded failed
                cancelled' -- "$cur"))
            return ;;
        --on-conflict)
            COMPREPLY=($(compgen -W 'queue skip replace' -- "$cur"))
            return ;;
        --retry-on)
            COMPREPLY=($(compgen -W 'exit:any exit: signal oom timeout heartbeat lost' -- "$cur"))
            [[ ${COMPREPLY[0]} == exit: ]] && compopt -o nospace 2>/dev/null
            return ;;
        --concurrency)
            COMPREPLY=($(compgen -W 'default' -- "$cur"))
            return ;;
        --on-calendar)
            COMPREPLY=($(compgen -W 'minutely hourly daily weekly monthly' -- "$cur"))
            return ;;
        --user)
            COMPREPLY=($(compgen -u -- "$cur"))
            return ;;
        --priority | --label | --timeout | --kill-grace | --heartbeat | --cpu | --memory | \
            --tasks-max | --after | --in | --at | --retries | --backoff | --key | --request-id | \
            --memory-grow | --memory-max | --timeout-grow | --timeout-max | \
            --attempt | --from | --accuracy)
            return ;;
    esac

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    # After `submit ... --` (or `schedule add NAME ... --`) comes a command line of its own.
    if ((dashdash_at > 0)) && [[ $command == submit || $command == rerun || $command == edit ||
        $sub == add ]]; then
        if declare -F _command_offset >/dev/null; then
            _command_offset $((dashdash_at + 1))
        else
            COMPREPLY=($(compgen -c -- "$cur"))
        fi
        return
    fi

    local opts=''
    case $command in
        submit)
            # Options end at the first word of the command, as with env(1).
            for ((i = command_at + 1; i < cword; i++)); do
                case ${words[i]} in
                    --wait | --json | --hold) ;;
                    -*) [[ ${words[i]} == *=* ]] || ((i++)) ;;
                    *)
                        if declare -F _command_offset >/dev/null; then
                            _command_offset "$i"
                        fi
                        return ;;
                esac
            done
            if [[ $cur == -* ]]; then
                opts="$submit_opts --"
            else
                COMPREPLY=($(compgen -c -- "$cur"))
                return
            fi ;;
        rerun)
            # rerun ID [submit options] [-- CMD...]: the id first, then options (a command only
            # after --).
            ((cword == command_at + 1)) && [[ $cur != -* ]] && return
            opts="$submit_opts --" ;;
        edit)
            # edit ID [submit options] [-- CMD...]: as rerun, without what is not part of a task.
            ((cword == command_at + 1)) && [[ $cur != -* ]] && return
            opts="${submit_opts//--wait/} --"
            opts=${opts//--hold/} opts=${opts//--request-id/} ;;
        update) opts='--timeout --memory --cpu --tasks-max' ;;
        status) opts='--env' ;;
        list) opts='--state --queue --label --all-users --limit' ;;
        wait) opts='--timeout' ;;
        cancel | hold | release | pause | resume | why) opts='' ;;
        logs) opts='-f --follow --attempt' ;;
        watch) opts='--from --progress' ;;
        progress | help | undrain) opts='' ;;
        drain) opts='--wait' ;;
        queue)
            if [[ -z $sub ]]; then
                COMPREPLY=($(compgen -W 'list set pause resume' -- "$cur"))
                return
            fi
            case $sub in
                set) opts='--concurrency' ;;
            esac
            if [[ $sub == set || $sub == pause || $sub == resume ]] && [[ $cur != -* ]] &&
                ((cword == sub_at + 1)); then
                COMPREPLY=($(compgen -W "$(_taskctl_queues "$socket")" -- "$cur"))
                return
            fi ;;
        schedule)
            if [[ -z $sub ]]; then
                COMPREPLY=($(compgen -W 'add list remove' -- "$cur"))
                return
            fi
            case $sub in
                add) opts="--on-calendar --persistent --accuracy ${submit_opts/--wait/} --" ;;
                remove) opts='--user' ;;
            esac ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts $global_opts" -- "$cur"))
    fi
} &&
    complete -F _taskctl taskctl
