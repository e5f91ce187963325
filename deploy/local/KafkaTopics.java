// Creates Kafka topics that are missing, in one JVM (the stock TopicCommand
// costs a JVM start per topic).  Run by deploy/local/kafka-topics with the
// jars fetched by deploy/local/pom.xml on the class path:
//   java -cp 'lib/*' KafkaTopics.java BOOTSTRAP PARTITIONS TOPIC...
// Existing topics are left alone (reported if their partition count differs).
// Exit 0 when every topic exists afterwards.
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.errors.TopicExistsException;

public class KafkaTopics {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: KafkaTopics BOOTSTRAP PARTITIONS TOPIC...");
            System.exit(2);
        }
        int partitions = Integer.parseInt(args[1]);
        List<String> wanted = Arrays.asList(args).subList(2, args.length);
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            Set<String> have = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> create = new ArrayList<>();
            for (String t : wanted)
                if (!have.contains(t)) create.add(new NewTopic(t, partitions, (short) 1));
            CreateTopicsResult r = admin.createTopics(create);
            int failed = 0;
            for (NewTopic t : create) {
                try {
                    r.values().get(t.name()).get(30, TimeUnit.SECONDS);
                    System.out.println("created " + t.name() + " partitions=" + partitions);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof TopicExistsException) continue; // raced
                    System.err.println("cannot create " + t.name() + ": " + e.getCause());
                    failed++;
                }
            }
            Map<String, TopicDescription> d =
                admin.describeTopics(wanted).allTopicNames().get(30, TimeUnit.SECONDS);
            for (String t : wanted) {
                int n = d.get(t).partitions().size();
                if (n != partitions)
                    System.err.println("note: " + t + " exists with " + n + " partitions, not " + partitions);
            }
            System.exit(failed == 0 ? 0 : 1);
        }
    }
}
